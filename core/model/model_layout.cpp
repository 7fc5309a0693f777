#include "core/model/model_layout.h"

#include "core/model/llama_tensors.h"
#include "core/util/error.h"

namespace qls {

namespace {

// config.json's dtype ("float32", "bfloat16", "float16"; parse_llama_config accepts no other).
DType config_dtype(const LlamaConfig& c) {
    if (c.dtype == "bfloat16") return DType::BF16;
    if (c.dtype == "float16") return DType::F16;
    return DType::F32;
}

// bitsandbytes' default; transformers' BitsAndBytesConfig has no block size to write.
constexpr int kBnbBlocksize = 64;

std::string folder_name(const std::filesystem::path& path) {
    const auto p = std::filesystem::absolute(path).lexically_normal();
    return p.filename().empty() ? p.parent_path().filename().string() : p.filename().string();
}

}  // namespace

const StoredTensor& ModelLayout::get(const std::string& tensor) const {
    for (const StoredTensor& t : tensors)
        if (t.name == tensor) return t;
    throw FormatError(str_cat(name, ": no tensor '", tensor, "'"));
}

ModelLayout model_layout(const Model& model) {
    ModelLayout l;
    l.path = model.path;
    l.name = model.name;
    l.config = model.config;
    for (const ExpectedTensor& e : llama_expected_tensors(model.config)) {
        const Weight& w = model.weights.get(e.name);
        StoredTensor t{e.name, w.shape, e.linear, w.view.dtype, std::nullopt, std::nullopt};
        if (w.is_quantized()) t.quant = StoredQuant{w.quantized->type, w.quantized->blocksize, w.quantized->nested.has_value()};
        if (w.gguf_blocks) t.gguf_blocks = w.gguf_type;
        l.tensors.push_back(std::move(t));
    }
    return l;
}

ModelLayout config_layout(const LlamaConfig& c) {
    ModelLayout l;
    l.config = c;
    l.config_only = true;
    for (const ExpectedTensor& e : llama_expected_tensors(c)) {
        StoredTensor t{e.name, e.shape, e.linear, config_dtype(c), std::nullopt, std::nullopt};
        if (e.linear && c.quantization) t.quant = StoredQuant{c.quantization->quant_type, kBnbBlocksize, c.quantization->double_quant};
        l.tensors.push_back(std::move(t));
    }
    return l;
}

bool is_config_only_folder(const std::filesystem::path& path) {
    std::error_code ec;
    return std::filesystem::is_directory(path, ec) && std::filesystem::exists(path / "config.json", ec) &&
           !std::filesystem::exists(path / "model.safetensors", ec) &&
           !std::filesystem::exists(path / "model.safetensors.index.json", ec);
}

ModelLayout open_model_layout(const std::filesystem::path& path) {
    std::error_code ec;
    const bool folder = std::filesystem::is_directory(path, ec);
    if (!is_config_only_folder(path) && (folder || path.extension() != ".json")) return model_layout(load_model(path));
    const std::filesystem::path config = folder ? path / "config.json" : path;
    ModelLayout l = config_layout(load_llama_config(config));
    l.path = path;
    l.name = folder_name(folder ? path : path.parent_path());
    return l;
}

}  // namespace qls
