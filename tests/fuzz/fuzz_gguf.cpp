// libFuzzer target for the GGUF reader, dequantizers and model loader (formats.md §9): any
// bytes must end in a parsed file or a qls::Error, never a crash, an out-of-bounds read, a
// hang or an allocation sized by an unchecked count. Seed it with tests/fixtures/gguf/*.gguf.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/io/ggml_dequant.h"
#include "core/io/gguf_reader.h"
#include "core/model/gguf_model_loader.h"
#include "core/util/error.h"

namespace {

void read_every_key(const qls::GgufFile& f) {
    for (const auto& [key, value] : f.metadata()) {
        try {
            if (value.is_integer()) f.get_u32(key);
            if (value.is_float()) f.get_float(key);
            if (value.type == qls::GgufValueType::String) f.get_string(key);
            if (value.type == qls::GgufValueType::Array) {
                f.get_string_array(key);
                f.get_int_array(key);
                f.get_f32_array(key);
            }
        } catch (const qls::Error&) {
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::byte> bytes(size);
    if (size) std::memcpy(bytes.data(), data, size);
    try {
        const qls::GgufFile file(std::move(bytes), "fuzz.gguf");
        read_every_key(file);
        for (const qls::GgufTensorInfo& t : file.tensors()) {
            try {
                qls::gguf_dequantize(file, t);
            } catch (const qls::Error&) {
            }
        }
        qls::load_gguf_model(file);
    } catch (const qls::Error&) {
    }
    return 0;
}
