#include "core/quant/quantize_checkpoint.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "core/io/bnb_checkpoint.h"
#include "core/io/safetensors_checkpoint.h"
#include "core/io/safetensors_writer.h"
#include "core/model/hf_model_loader.h"
#include "core/model/llama_tensors.h"
#include "core/quant/quantize_4bit.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace qls {

namespace {

namespace fs = std::filesystem;

// The dense tensors of the input and which of them to quantize.
struct Plan {
    std::vector<NamedTensor> tensors;
    std::vector<bool> quantize;  // parallel to tensors
    SafetensorsMetadata metadata;
};

std::regex compile_regex(const std::string& pattern) {
    try {
        return std::regex(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        throw ConfigError(str_cat("invalid tensor regex '", pattern, "': ", e.what()));
    }
}

bool quantizable(const TensorView& v) {
    return v.shape.size() == 2 &&
           (v.dtype == DType::F32 || v.dtype == DType::BF16 || v.dtype == DType::F16);
}

Plan plan_model(const LoadedModel& model, const std::optional<std::regex>& re) {
    QLS_CHECK(ConfigError, model.weights.format != ModelFormat::BnbPrequantized, model.path.string(),
              ": the model is already quantized with bitsandbytes");
    std::set<std::string> linear;
    for (const auto& e : llama_expected_tensors(model.config))
        if (e.linear) linear.insert(e.name);
    Plan p;
    p.metadata = {{"format", "pt"}};  // what transformers' save_pretrained writes
    for (const auto& [name, w] : model.weights.tensors) {
        p.tensors.push_back({name, w.view});
        p.quantize.push_back(linear.count(name) && (!re || std::regex_search(name, *re)));
    }
    return p;
}

Plan plan_file(const SafetensorsFile& file, const std::optional<std::regex>& re) {
    Plan p;
    p.metadata = file.metadata();
    for (const auto& t : file.tensors()) {
        p.tensors.push_back(t);
        p.quantize.push_back(quantizable(t.view) && (!re || std::regex_search(t.name, *re)));
    }
    return p;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    QLS_CHECK(IoError, in.is_open(), "cannot open '", path.string(), "'");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// transformers' BitsAndBytesConfig.to_dict() as 5.17 writes it into config.json.
nlohmann::json quantization_config(const QuantizeCheckpointOptions& o) {
    return {{"_load_in_4bit", true},
            {"_load_in_8bit", false},
            {"bnb_4bit_compute_dtype", o.compute_dtype},
            {"bnb_4bit_quant_storage", "uint8"},
            {"bnb_4bit_quant_type", std::string(quant_type_name(o.type))},
            {"bnb_4bit_use_double_quant", o.double_quant},
            {"llm_int8_enable_fp32_cpu_offload", false},
            {"llm_int8_has_fp16_weight", false},
            {"llm_int8_skip_modules", nullptr},
            {"llm_int8_threshold", 6.0},
            {"load_in_4bit", true},
            {"load_in_8bit", false},
            {"quant_method", "bitsandbytes"}};
}

// config.json with quantization_config added; the other files of the folder (tokenizer,
// generation config, templates) copied as they are, the weights left behind.
void write_model_files(const fs::path& input, const fs::path& dir, const QuantizeCheckpointOptions& o) {
    nlohmann::json config = nlohmann::json::parse(read_text(input / "config.json"));
    config["quantization_config"] = quantization_config(o);
    // json.dumps(indent=2, sort_keys=True) + "\n", as PretrainedConfig.to_json_string.
    write_file_atomic(dir / "config.json", config.dump(2, ' ', true) + "\n");
    for (const auto& e : fs::directory_iterator(input)) {
        const auto name = e.path().filename().string();
        const auto ext = e.path().extension().string();
        const bool weights = ext == ".safetensors" || ext == ".bin" || ext == ".pt" || ext == ".pth" ||
                             ext == ".gguf" || name == "model.safetensors.index.json";
        if (e.is_regular_file() && !weights && name != "config.json") fs::copy_file(e.path(), dir / name);
    }
}

}  // namespace

QuantizeSummary quantize_checkpoint(const fs::path& input, const fs::path& output,
                                    const QuantizeCheckpointOptions& options, const QuantizeProgress& progress) {
    check_quant_blocksize(options.blocksize);
    QLS_CHECK(ConfigError,
              options.compute_dtype == "float32" || options.compute_dtype == "float16" ||
                  options.compute_dtype == "bfloat16",
              "compute dtype '", options.compute_dtype, "': expected float32, float16 or bfloat16");
    std::optional<std::regex> re;
    if (options.tensor_regex) re = compile_regex(*options.tensor_regex);

    const bool is_model = fs::is_directory(input);
    std::optional<LoadedModel> model;
    std::optional<SafetensorsFile> file;
    Plan plan;
    if (is_model) {
        model = load_hf_model(input);
        plan = plan_model(*model, re);
    } else {
        file.emplace(input);
        plan = plan_file(*file, re);
    }

    QuantizeSummary summary;
    const std::size_t total = std::size_t(std::count(plan.quantize.begin(), plan.quantize.end(), true));
    QLS_CHECK(ConfigError, total > 0 || !options.tensor_regex, "--tensors '", *options.tensor_regex,
              "' matches none of the quantizable tensors of '", input.string(), "': nothing would be quantized");
    std::vector<OwnedTensor> quantized;
    std::vector<NamedTensor> out;
    for (std::size_t i = 0; i < plan.tensors.size(); ++i) {
        const NamedTensor& t = plan.tensors[i];
        if (!plan.quantize[i]) {
            out.push_back(t);
            ++summary.kept;
            continue;
        }
        const Quantized4bit q = with_context(str_cat("while quantizing '", t.name, "'"), [&] {
            return quantize_4bit(t.view, options.type, options.blocksize, options.double_quant);
        });
        summary.bytes_in += t.view.data.size();
        for (auto& b : bnb_serialize(t.name, q)) {
            summary.bytes_out += b.data.size();
            quantized.push_back(std::move(b));
        }
        ++summary.quantized;
        if (progress && !progress(summary.quantized, total)) {
            summary.cancelled = true;
            return summary;
        }
    }
    for (const auto& b : quantized) out.push_back({b.name, b.view()});

    AtomicDirWriter dir(output);
    write_safetensors_ordered(dir.dir() / "model.safetensors", out, plan.metadata);
    if (is_model) write_model_files(input, dir.dir(), options);
    dir.commit();
    return summary;
}

}  // namespace qls
