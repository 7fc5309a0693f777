// PEFT adapter folder writer and reader (formats.md §5; peft 0.21 LoraConfig.save_pretrained,
// PeftModel.save_pretrained, and the README that peft's model card template starts from).
#include "core/export/peft_adapter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/export/base_model_id.h"
#include "core/io/safetensors_writer.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace qls {

namespace {

using nlohmann::json;

using peft_keys::kPrefix;
using peft_keys::kSuffixA;
using peft_keys::kSuffixB;

// An integral alpha is written as an int, as a user's LoraConfig(lora_alpha=16) saves it.
json alpha_json(double alpha) {
    if (alpha == std::floor(alpha) && std::fabs(alpha) < 1e15) return static_cast<std::int64_t>(alpha);
    return alpha;
}

void check_pair(const LoraAdapter& adapter, const std::string& module, const LoraPair& p) {
    QLS_CHECK(ConfigError, p.rank == adapter.config.rank, "LoRA module '", module, "': rank ", p.rank,
              ", expected the adapter's rank ", adapter.config.rank);
    QLS_CHECK(ConfigError,
              p.in > 0 && p.out > 0 && p.a.size() == std::size_t(p.rank * p.in) &&
                  p.b.size() == std::size_t(p.out * p.rank),
              "LoRA module '", module, "': A has ", p.a.size(), " values and B ", p.b.size(), ", expected ",
              p.rank, "x", p.in, " and ", p.out, "x", p.rank);
    const auto finite = [](const std::vector<float>& v) {
        return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
    };
    QLS_CHECK(ConfigError, finite(p.a) && finite(p.b), "LoRA module '", module,
              "' holds NaN or infinite values: an adapter that diverged is never written");
}

OwnedTensor f32_tensor(std::string name, Shape shape, const std::vector<float>& values) {
    OwnedTensor t{std::move(name), DType::F32, std::move(shape), std::vector<std::byte>(values.size() * 4)};
    std::memcpy(t.data.data(), values.data(), t.data.size());
    return t;
}

std::string today_utc() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

std::string format_loss(const std::optional<double>& v) {
    if (!v) return "n/a";
    std::ostringstream os;
    os << std::fixed << std::setprecision(4) << *v;
    return os.str();
}

// How to load the adapter; where the base is a local path, what to pass on another machine.
std::string usage_section(const std::string& base, bool hub) {
    std::string s = "## Usage\n\n```python\nfrom peft import PeftModel\nfrom transformers import "
                    "AutoModelForCausalLM\n\n";
    s += str_cat("base = AutoModelForCausalLM.from_pretrained(\"", base, "\")\n");
    s += "model = PeftModel.from_pretrained(base, \"path/to/this/folder\")\n```\n\n";
    if (hub)
        return s + "`AutoPeftModelForCausalLM.from_pretrained(\"path/to/this/folder\")` loads the base from the "
                   "Hub by itself.\n\n";
    s += "`base_model_name_or_path` in adapter_config.json is the local path the adapter was trained on, so "
         "`AutoPeftModelForCausalLM.from_pretrained(\"path/to/this/folder\")` works only where that path "
         "exists. Elsewhere, load the same base yourself (its Hugging Face Hub ID or your copy of it) and pass "
         "it to `PeftModel.from_pretrained` as above, or write its Hub ID into `base_model_name_or_path`.";
    if (base.ends_with(".gguf"))
        s += " A GGUF base loads in transformers with `AutoModelForCausalLM.from_pretrained(folder, "
             "gguf_file=name)`.";
    return s + "\n\n";
}

}  // namespace

std::string peft_adapter_config_json(const LoraAdapter& adapter) {
    const LoraConfig& c = adapter.config;
    json targets = json::array();
    for (LoraTarget t : c.targets) targets.push_back(std::string(lora_target_name(t)));
    const std::string& base = adapter.base_model;
    // Every key peft 0.21 writes, with its default where we have nothing to say.
    json j = {
        {"alora_invocation_tokens", nullptr},
        {"alpha_pattern", json::object()},
        {"arrow_config", nullptr},
        {"auto_mapping", nullptr},
        {"base_model_name_or_path", base.empty() ? json(nullptr) : json(base)},
        {"bias", "none"},
        {"corda_config", nullptr},
        {"ensure_weight_tying", false},
        {"eva_config", nullptr},
        {"exclude_modules", nullptr},
        {"fan_in_fan_out", false},
        {"inference_mode", true},
        {"init_lora_weights", true},
        {"kasa_config", nullptr},
        {"layer_replication", nullptr},
        {"layers_pattern", nullptr},
        {"layers_to_transform", nullptr},
        {"loftq_config", json::object()},
        {"lora_alpha", alpha_json(c.alpha)},
        {"lora_bias", false},
        {"lora_dropout", c.dropout},
        {"lora_ga_config", nullptr},
        {"megatron_config", nullptr},
        {"megatron_core", "megatron.core"},
        {"modules_to_save", nullptr},
        {"monteclora_config", nullptr},
        {"peft_type", "LORA"},
        {"peft_version", "0.21.0"},
        {"qalora_group_size", 16},
        {"r", c.rank},
        {"rank_pattern", json::object()},
        {"revision", nullptr},
        {"target_modules", targets},
        {"target_parameters", nullptr},
        {"task_type", "CAUSAL_LM"},
        {"trainable_token_indices", nullptr},
        {"use_bdlora", nullptr},
        {"use_dora", false},
        {"use_qalora", false},
        {"use_rslora", c.rslora},
        {"velora_config", nullptr},
    };
    return j.dump(2, ' ', true);  // nlohmann orders object keys, as sort_keys=True does
}

std::string peft_model_card(const LoraAdapter& adapter, const ModelCard& card) {
    const LoraConfig& c = adapter.config;
    const std::string& base = adapter.base_model;
    const std::string base_or_unknown = base.empty() ? "unknown" : base;
    // The Hub validates base_model as a repo ID: a local path stays out of the front matter.
    const bool hub = is_hub_id(base);
    std::string targets;
    for (LoraTarget t : c.targets)
        targets += (targets.empty() ? "" : ", ") + std::string(lora_target_name(t));
    std::string s = "---\n";
    if (hub) s += "base_model: " + base + "\n";
    s += "library_name: peft\npipeline_tag: text-generation\ntags:\n";
    if (hub) s += "- base_model:adapter:" + base + "\n";
    s += "- lora\n- qlora\n- transformers\n---\n\n";
    s += str_cat("# LoRA adapter for ", base_or_unknown, "\n\n");
    s += "Trained with QLoRA Studio: the base model frozen in 4-bit, low-rank adapters trained on "
         "top (PEFT LoRA format).\n\n";
    s += "## Training\n\n";
    s += str_cat("- **Base model:** ", base_or_unknown, "\n");
    if (!card.dataset.empty()) s += str_cat("- **Dataset:** ", card.dataset, "\n");
    if (!card.quantization.empty()) s += str_cat("- **Base quantization:** ", card.quantization, "\n");
    s += str_cat("- **LoRA:** r ", c.rank, ", alpha ", c.alpha, c.rslora ? " (rsLoRA)" : "", ", dropout ",
                 c.dropout, ", modules ", targets, "\n");
    if (card.learning_rate > 0) s += str_cat("- **Learning rate:** ", card.learning_rate, "\n");
    if (card.batch_size > 0) s += str_cat("- **Effective batch size:** ", card.batch_size, "\n");
    if (card.seq_len > 0) s += str_cat("- **Sequence length:** ", card.seq_len, "\n");
    if (card.steps > 0) s += str_cat("- **Steps:** ", card.steps, "\n");
    s += str_cat("- **Final loss:** train ", format_loss(card.train_loss), ", validation ",
                 format_loss(card.valid_loss), "\n");
    s += str_cat("- **Date:** ", card.date.empty() ? today_utc() : card.date, "\n\n");
    s += usage_section(base_or_unknown, hub);
    s += "### Framework versions\n\n- PEFT 0.21.0\n";
    return s;
}

void write_peft_adapter(const LoraAdapter& adapter, const std::filesystem::path& dir, const ModelCard& card) {
    adapter.config.validate();
    QLS_CHECK(ConfigError, !adapter.modules.empty(), "PEFT export to '", dir.string(),
              "': the adapter has no modules");
    std::vector<OwnedTensor> tensors;
    for (const auto& [module, p] : adapter.modules) {
        check_pair(adapter, module, p);
        const std::string key = std::string(kPrefix) + module;
        tensors.push_back(f32_tensor(key + std::string(kSuffixA), {p.rank, p.in}, p.a));
        tensors.push_back(f32_tensor(key + std::string(kSuffixB), {p.out, p.rank}, p.b));
    }
    AtomicDirWriter out(dir);
    write_file_atomic(out.dir() / "adapter_config.json", peft_adapter_config_json(adapter));
    write_safetensors(out.dir() / "adapter_model.safetensors", named_views(tensors), {{"format", "pt"}});
    write_file_atomic(out.dir() / "README.md", peft_model_card(adapter, card));
    out.commit();
}

}  // namespace qls
