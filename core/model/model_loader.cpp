#include "core/model/model_loader.h"

#include "core/model/gguf_model_loader.h"
#include "core/model/hf_model_loader.h"
#include "core/tokenizer/gguf_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace qls {

std::string_view model_format_name(ModelFormat f) {
    switch (f) {
        case ModelFormat::HfSafetensors: return "safetensors";
        case ModelFormat::BnbPrequantized: return "bitsandbytes 4-bit";
        case ModelFormat::Gguf: return "GGUF";
    }
    return "?";
}

Model load_model(const std::filesystem::path& path) {
    std::error_code ec;
    QLS_CHECK(IoError, std::filesystem::exists(path, ec), "'", path.string(), "' does not exist");
    Model m;
    m.path = path;
    if (std::filesystem::is_directory(path, ec)) {
        LoadedModel hf = load_hf_model(path);
        m.config = std::move(hf.config);
        m.weights = std::move(hf.weights);
        m.name = std::filesystem::absolute(path).lexically_normal().filename().string();
        if (m.name.empty()) m.name = std::filesystem::absolute(path).parent_path().filename().string();
        return m;
    }
    QLS_CHECK(FormatError, path.extension() == ".gguf",
              "'", path.string(), "' is neither a model folder (config.json + safetensors) nor a .gguf file");
    GgufModel g = load_gguf_model(path);
    m.config = std::move(g.config);
    m.weights = std::move(g.weights);
    m.gguf_tokenizer = std::move(g.tokenizer);
    m.name = g.name.empty() ? path.stem().string() : g.name;
    return m;
}

Tokenizer load_model_tokenizer(const Model& model) {
    if (model.gguf_tokenizer)
        return with_context("while reading the tokenizer of " + model.path.string(),
                            [&] { return tokenizer_from_gguf(*model.gguf_tokenizer); });
    return load_tokenizer(model.path);
}

Tokenizer load_tokenizer_from(const std::filesystem::path& path) {
    if (path.extension() != ".gguf") return load_tokenizer(path);
    return with_context("while reading the tokenizer of " + path.string(),
                        [&] { return tokenizer_from_gguf(read_gguf_tokenizer(GgufFile(path))); });
}

}  // namespace qls
