// read_peft_adapter: a PEFT LoRA folder (formats.md §5) back into a LoraAdapter. Only what the
// trainer can represent is accepted: plain LoRA on the seven Llama linears, one rank and alpha.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/export/peft_adapter.h"
#include "core/io/safetensors_reader.h"
#include "core/tokenizer/tokenizer_config.h"
#include "core/util/error.h"

namespace qls {

namespace {

using nlohmann::json;

using peft_keys::kPrefix;
using peft_keys::kSuffixA;
using peft_keys::kSuffixB;

const json& require_key(const json& j, const char* key, const std::string& file) {
    QLS_CHECK(FormatError, j.contains(key), file, ": key '", key, "' is missing");
    return j[key];
}

// A key that must be absent, null, false, empty or equal to `ok` for us to load the adapter.
void refuse_unless_default(const json& j, const char* key, const json& ok, const std::string& file,
                           std::string_view why) {
    if (!j.contains(key)) return;
    const json& v = j[key];
    const bool fine = v.is_null() || v == ok || (v.is_boolean() && !v.get<bool>()) ||
                      ((v.is_object() || v.is_array()) && v.empty());
    QLS_CHECK(FormatError, fine, file, ": key '", key, "' is ", v.dump(), ": ", why);
}

void read_config(const json& j, const std::string& file, LoraAdapter& out) {
    QLS_CHECK(FormatError, j.is_object(), file, ": expected a JSON object");
    const json& type = require_key(j, "peft_type", file);
    QLS_CHECK(FormatError, type == "LORA", file, ": key 'peft_type' is ", type.dump(),
              ", only \"LORA\" adapters are supported");
    refuse_unless_default(j, "use_dora", false, file, "DoRA adapters are not supported");
    refuse_unless_default(j, "bias", "none", file, "adapters that train biases are not supported");
    refuse_unless_default(j, "lora_bias", false, file, "adapters with a LoRA bias are not supported");
    refuse_unless_default(j, "rank_pattern", json::object(), file, "per-module ranks are not supported");
    refuse_unless_default(j, "alpha_pattern", json::object(), file, "per-module alphas are not supported");
    refuse_unless_default(j, "modules_to_save", nullptr, file,
                          "fully trained extra modules are not supported");
    refuse_unless_default(j, "fan_in_fan_out", false, file,
                          "Conv1D-style (fan_in_fan_out) weights are not supported");
    const json& r = require_key(j, "r", file);
    QLS_CHECK(FormatError, r.is_number_integer(), file, ": key 'r' is ", r.dump(), ", expected an integer");
    const json& alpha = require_key(j, "lora_alpha", file);
    QLS_CHECK(FormatError, alpha.is_number(), file, ": key 'lora_alpha' is ", alpha.dump(),
              ", expected a number");
    LoraConfig& c = out.config;
    c.rank = r.get<std::int64_t>();
    c.alpha = alpha.get<double>();
    const json dropout = j.value("lora_dropout", json(0.0));
    QLS_CHECK(FormatError, dropout.is_number(), file, ": key 'lora_dropout' is ", dropout.dump(),
              ", expected a number");
    c.dropout = dropout.get<double>();
    const json rslora = j.value("use_rslora", json(false));
    QLS_CHECK(FormatError, rslora.is_boolean(), file, ": key 'use_rslora' is ", rslora.dump(),
              ", expected a bool");
    c.rslora = rslora.get<bool>();
    const json& targets = require_key(j, "target_modules", file);
    // A list names suffixes (or, from peft 0.21's "all-linear", full module names); a regex
    // string is taken at its word: the tensors present decide.
    if (targets.is_array()) {
        for (const json& t : targets) {
            QLS_CHECK(FormatError, t.is_string(), file, ": key 'target_modules' holds ", t.dump(),
                      ", expected strings");
            const std::string name = t.get<std::string>();
            const std::string leaf = name.substr(name.rfind('.') + 1);
            try {
                parse_lora_target(leaf);
            } catch (const ConfigError&) {
                throw FormatError(
                    str_cat(file, ": key 'target_modules' names '", name,
                            "', which is not one of the Llama linears q/k/v/o/gate/up/down_proj"));
            }
        }
    } else {
        QLS_CHECK(FormatError, targets.is_string(), file, ": key 'target_modules' is ", targets.dump(),
                  ", expected a list or a regex string");
    }
    if (const auto base = j.find("base_model_name_or_path"); base != j.end() && base->is_string())
        out.base_model = base->get<std::string>();
}

// "model.layers.3.self_attn.q_proj" -> (layer, target); FormatError otherwise.
std::pair<std::int64_t, LoraTarget> parse_module(const std::string& module, const std::string& key,
                                                 const std::string& file) {
    const std::string leaf = module.substr(module.rfind('.') + 1);
    constexpr std::string_view layers = "model.layers.";
    std::int64_t layer = -1;
    if (module.starts_with(layers)) {
        const std::size_t end = module.find('.', layers.size());
        const std::string digits = module.substr(layers.size(), end - layers.size());
        if (!digits.empty() && digits.size() < 7 &&
            digits.find_first_not_of("0123456789") == std::string::npos)
            layer = std::stoll(digits);
    }
    for (LoraTarget t : kAllLoraTargets)
        if (layer >= 0 && leaf == lora_target_name(t) && lora_module_name(layer, t) == module)
            return {layer, t};
    throw FormatError(
        str_cat(file, ": tensor '", key, "' adapts '", module,
                "', which is not a Llama attention or MLP linear (model.layers.N.self_attn.q_proj, ...)"));
}

std::vector<float> read_factor(const SafetensorsFile& f, const std::string& key) {
    const TensorView& t = f.tensor(key);
    QLS_CHECK(FormatError, t.shape.size() == 2 && dtype_is_float(t.dtype) && t.dtype != DType::F64,
              f.path().string(), ": tensor '", key, "': expected a 2-D F32/BF16/F16 matrix, got ",
              dtype_name(t.dtype), " ", t.shape);
    return to_f32(t);
}

bool all_finite(const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

}  // namespace

LoraAdapter read_peft_adapter(const std::filesystem::path& dir) {
    const std::string config_path = (dir / "adapter_config.json").string();
    const std::string weights_path = (dir / "adapter_model.safetensors").string();
    QLS_CHECK(FormatError, std::filesystem::is_regular_file(config_path), "PEFT adapter '", dir.string(), "'",
              ": file adapter_config.json is missing");
    QLS_CHECK(FormatError, std::filesystem::is_regular_file(weights_path), "PEFT adapter '", dir.string(),
              "'", ": file adapter_model.safetensors is missing (adapter_model.bin is not supported)");
    LoraAdapter out;
    json j;
    try {
        j = json::parse(read_text_file(config_path));
    } catch (const json::exception& e) {
        throw FormatError(str_cat(config_path, ": not valid JSON: ", e.what()));
    }
    read_config(j, config_path, out);

    const SafetensorsFile f(weights_path);
    std::set<LoraTarget> found;
    for (const std::string& key : f.names()) {
        QLS_CHECK(
            FormatError, key.starts_with(kPrefix) && (key.ends_with(kSuffixA) || key.ends_with(kSuffixB)),
            weights_path, ": tensor '", key, "' is not a LoRA factor (expected base_model.model.<module>",
            kSuffixA, " or ", kSuffixB, ")");
        if (key.ends_with(kSuffixB)) continue;  // read with its lora_A
        const std::string module = key.substr(kPrefix.size(), key.size() - kPrefix.size() - kSuffixA.size());
        found.insert(parse_module(module, key, weights_path).second);
        const std::string key_b = std::string(kPrefix) + module + std::string(kSuffixB);
        QLS_CHECK(FormatError, f.contains(key_b), weights_path, ": tensor '", key, "' has no partner '",
                  key_b, "'");
        const Shape sa = f.tensor(key).shape, sb = f.tensor(key_b).shape;
        LoraPair p;
        p.a = read_factor(f, key);
        p.b = read_factor(f, key_b);
        for (const auto& [name, values] : {std::pair{&key, &p.a}, std::pair{&key_b, &p.b}})
            QLS_CHECK(FormatError, all_finite(*values), weights_path, ": tensor '", *name,
                      "' holds NaN or infinite values: the adapter is unusable (saved from a run that diverged?)");
        p.rank = sa[0];
        p.in = sa[1];
        p.out = sb[0];
        QLS_CHECK(FormatError, p.rank == out.config.rank, weights_path, ": tensor '", key, "' has shape ", sa,
                  ", expected [", out.config.rank, ", in] (r = ", out.config.rank,
                  " in adapter_config.json)");
        QLS_CHECK(FormatError, sb[1] == p.rank, weights_path, ": tensor '", key_b, "' has shape ", sb,
                  ", expected [out, ", p.rank, "] to match '", key, "' ", sa);
        out.modules.emplace(module, std::move(p));
    }
    for (const std::string& key : f.names()) {
        if (!key.ends_with(kSuffixB)) continue;
        const std::string module = key.substr(kPrefix.size(), key.size() - kPrefix.size() - kSuffixB.size());
        QLS_CHECK(FormatError, out.modules.count(module), weights_path, ": tensor '", key,
                  "' has no partner '", kPrefix, module, kSuffixA, "'");
    }
    QLS_CHECK(FormatError, !out.modules.empty(), weights_path, ": no LoRA tensors");
    out.config.targets.clear();
    for (LoraTarget t : kAllLoraTargets)
        if (found.count(t)) out.config.targets.push_back(t);
    with_context(config_path, [&] {
        try {
            out.config.validate();
        } catch (const ConfigError& e) {
            throw FormatError(e.message());
        }
    });
    return out;
}

}  // namespace qls
