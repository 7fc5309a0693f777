#include "core/model/hf_model_loader.h"

#include <set>

#include "core/io/bnb_checkpoint.h"
#include "core/io/safetensors_checkpoint.h"
#include "core/model/llama_tensors.h"
#include "core/util/error.h"

namespace qls {

namespace {

// The weights of every tensor in `ckpt`; the bitsandbytes side tensors are folded into the
// 4-bit weight they belong to.
ModelWeights collect_weights(const SafetensorsCheckpoint& ckpt) {
    ModelWeights w;
    w.files = ckpt.files();
    std::set<std::string> consumed;
    for (const auto& name : ckpt.names()) {
        const auto weight_name = bnb_weight_of_quant_state(name);
        if (!weight_name) continue;
        Quantized4bit q = read_bnb_weight(ckpt, *weight_name);
        for (const auto& aux : bnb_tensor_names(*weight_name, q.type, q.nested.has_value())) consumed.insert(aux);
        Weight weight;
        weight.shape = q.shape;
        weight.quantized = std::move(q);
        w.tensors.emplace(*weight_name, std::move(weight));
        w.format = ModelFormat::BnbPrequantized;
    }
    for (const auto& name : ckpt.names()) {
        if (consumed.count(name)) continue;
        const TensorView& v = ckpt.tensor(name);
        Weight weight;
        weight.shape = v.shape;
        weight.view = v;
        w.tensors.emplace(name, std::move(weight));
    }
    return w;
}

// A folder without config.json is the common wrong pick (a run folder, a dataset folder, the
// folder a .gguf sits in): say what it is missing and what would be right, in place of the
// lower-level "cannot open config.json".
void check_model_folder(const std::filesystem::path& folder) {
    std::error_code ec;
    QLS_CHECK(IoError, std::filesystem::is_directory(folder, ec), "'", folder.string(), "' is not a folder");
    if (std::filesystem::exists(folder / "config.json", ec)) return;
    std::string hint;
    for (auto it = std::filesystem::directory_iterator(folder, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec))
        if (it->path().extension() == ".gguf") {
            hint = "; it holds " + it->path().filename().string() + ": open that file instead";
            break;
        }
    throw FormatError(str_cat("'", folder.string(), "' is not a model folder: it has no config.json (expected a "
                              "Hugging Face model folder, a bitsandbytes 4-bit checkpoint or a .gguf file)", hint));
}

}  // namespace

LoadedModel load_hf_model(const std::filesystem::path& folder) {
    check_model_folder(folder);
    return with_context(str_cat("while loading ", folder.string()), [&] {
        LoadedModel m;
        m.path = folder;
        m.config = load_llama_config(folder / "config.json");
        const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(folder);
        m.weights = collect_weights(ckpt);
        QLS_CHECK(FormatError, !m.config.quantization || m.weights.format == ModelFormat::BnbPrequantized,
                  (folder / "config.json").string(),
                  ": quantization_config says bitsandbytes 4-bit, but no tensor has a quant_state");
        check_model_weights(m.config, m.weights, ckpt.sharded() ? folder.string() : ckpt.shards()[0].path().string());
        return m;
    });
}

}  // namespace qls
