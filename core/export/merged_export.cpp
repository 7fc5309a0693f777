// Merged bf16 export: transformers' save_pretrained layout (formats.md §6.2 "Sharding", §7).
// Tensors go into shards in checkpoint order, a new shard starting when the next tensor would
// pass the limit, as transformers' split_torch_state_dict_into_shards does.
#include "core/export/merged_export.h"

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/io/safetensors_writer.h"
#include "core/tokenizer/tokenizer_config.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "core/util/half.h"

namespace qls {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

OwnedTensor bf16_tensor(const std::string& name, const Shape& shape, const std::vector<float>& values) {
    OwnedTensor t{name, DType::BF16, shape, std::vector<std::byte>(values.size() * 2)};
    auto* dst = reinterpret_cast<std::uint16_t*>(t.data.data());
    for (std::size_t i = 0; i < values.size(); ++i) dst[i] = f32_to_bf16(values[i]);
    return t;
}

std::vector<std::vector<std::string>> plan_shards(const Model& model, std::uint64_t limit) {
    std::vector<std::vector<std::string>> shards(1);
    std::uint64_t size = 0;
    for (const std::string& name : model_tensor_names(model)) {
        const std::uint64_t bytes = std::uint64_t(numel(model.weights.get(name).shape)) * 2;
        if (!shards.back().empty() && size + bytes > limit) {
            shards.emplace_back();
            size = 0;
        }
        shards.back().push_back(name);
        size += bytes;
    }
    return shards;
}

std::string shard_name(std::size_t i, std::size_t n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i, n);
    return buf;
}

void write_config(const Model& model, const fs::path& dir) {
    const fs::path src = model_folder(model) / "config.json";
    QLS_CHECK(ConfigError, model.weights.format != ModelFormat::Gguf && fs::is_regular_file(src),
              "merged safetensors export needs a Hugging Face model folder with config.json; '",
              model.path.string(), "' has none (export a GGUF instead)");
    json config = json::parse(read_text_file(src));
    config.erase("quantization_config");
    config["dtype"] = "bfloat16";
    if (config.contains("torch_dtype")) config["torch_dtype"] = "bfloat16";
    write_file_atomic(dir / "config.json", config.dump(2, ' ', true) + "\n");
}

}  // namespace

fs::path model_folder(const Model& model) {
    return fs::is_directory(model.path) ? model.path : model.path.parent_path();
}

MergedExportSummary export_merged_model(const Model& model, const LoraAdapter& adapter, const fs::path& dir,
                                        const MergedExportOptions& options, const ProgressFn& progress) {
    check_adapter_fits(model, adapter);
    QLS_CHECK(ConfigError, options.max_shard_bytes > 0, "merged export: the shard limit is 0 bytes");
    AtomicDirWriter out(dir);
    write_config(model, out.dir());
    for (const char* file : kTokenizerFiles)
        if (fs::is_regular_file(model_folder(model) / file))
            fs::copy_file(model_folder(model) / file, out.dir() / file);

    const auto shards = plan_shards(model, options.max_shard_bytes);
    MergedExportSummary summary;
    summary.shards = shards.size();
    const std::size_t total = model_tensor_names(model).size();
    json weight_map = json::object();
    std::uint64_t parameters = 0;
    std::size_t done = 0;
    for (std::size_t s = 0; s < shards.size(); ++s) {
        const std::string file =
            shards.size() == 1 ? std::string("model.safetensors") : shard_name(s + 1, shards.size());
        std::vector<OwnedTensor> tensors;
        for (const std::string& name : shards[s]) {
            const Weight& w = model.weights.get(name);
            tensors.push_back(bf16_tensor(name, w.shape, merged_tensor(model, &adapter, name, options.base)));
            if (name.ends_with(".weight") && adapter.modules.count(name.substr(0, name.size() - 7)))
                ++summary.merged;
            summary.total_bytes += tensors.back().data.size();
            parameters += std::uint64_t(numel(w.shape));
            weight_map[name] = file;
            report_progress(progress, ++done, total);
        }
        write_safetensors(out.dir() / file, named_views(tensors), {{"format", "pt"}});
    }
    if (shards.size() > 1) {
        const json index = {
            {"metadata", {{"total_parameters", parameters}, {"total_size", summary.total_bytes}}},
            {"weight_map", weight_map}};
        write_file_atomic(out.dir() / "model.safetensors.index.json", index.dump(2, ' ', true) + "\n");
    }
    out.commit();
    return summary;
}

}  // namespace qls
