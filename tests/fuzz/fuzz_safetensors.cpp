// libFuzzer target for the safetensors parser (formats.md §7): any input must either parse
// into views inside the buffer or throw a qls::Error; parsed files must survive a rewrite.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/io/safetensors_reader.h"
#include "core/io/safetensors_writer.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    try {
        const qls::SafetensorsLayout layout = qls::parse_safetensors(bytes, "fuzz.safetensors");
        // Touch every byte of every view, so ASan sees any view outside the input.
        unsigned sum = 0;
        for (const auto& t : layout.tensors)
            for (std::byte b : t.view.data) sum += std::to_integer<unsigned>(b);
        // What we read we can write, and the rewrite reads back to the same tensors.
        const std::string image = qls::serialize_safetensors(layout.tensors, layout.metadata);
        const auto again = qls::parse_safetensors(std::as_bytes(std::span(image)), "rewrite");
        if (again.tensors.size() != layout.tensors.size() || again.metadata != layout.metadata) __builtin_trap();
        return static_cast<int>(sum & 0);
    } catch (const qls::Error&) {
        return 0;
    }
}
