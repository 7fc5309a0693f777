// convert_lora_to_gguf.py (LoraModel, LoraTorchTensor) and llama-adapter.cpp checks (formats.md §9.4).
#include "core/export/gguf_lora_export.h"

#include <cmath>

#include "core/export/export_destination.h"
#include "core/export/ggml_encode.h"
#include "core/export/gguf_model_export.h"
#include "core/export/gguf_writer.h"
#include "core/util/error.h"

namespace qls {

namespace {

GgmlType factor_type(GgmlType wanted, std::int64_t row_length) {
    return wanted == GgmlType::Q8_0 && row_length % 32 != 0 ? GgmlType::F16 : wanted;
}

// [out, in] of the base weight a module adapts.
std::pair<std::int64_t, std::int64_t> base_shape(const LlamaConfig& c, LoraTarget t) {
    const std::int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
    switch (t) {
        case LoraTarget::Q:
            return {q, c.hidden_size};
        case LoraTarget::K:
        case LoraTarget::V:
            return {kv, c.hidden_size};
        case LoraTarget::O:
            return {c.hidden_size, q};
        case LoraTarget::Gate:
        case LoraTarget::Up:
            return {c.intermediate_size, c.hidden_size};
        case LoraTarget::Down:
            return {c.hidden_size, c.intermediate_size};
    }
    return {0, 0};
}

}  // namespace

double gguf_lora_alpha(const LoraConfig& c) {
    return c.rslora ? c.alpha * std::sqrt(static_cast<double>(c.rank)) : c.alpha;
}

void export_gguf_lora(const LoraAdapter& adapter, const LlamaConfig& base, const std::filesystem::path& path,
                      const GgufLoraOptions& options) {
    QLS_CHECK(ConfigError, ggml_can_encode(options.type), "GGUF LoRA export: type ",
              ggml_type_info(options.type)->name, " is not supported (F32, F16, BF16, Q8_0)");
    const std::string arch = gguf_architecture(base);
    QLS_CHECK(ConfigError, !adapter.modules.empty(), "GGUF LoRA export: the adapter has no modules");
    GgufWriter w;
    w.set_string("general.architecture", arch);
    w.set_string("general.type", "adapter");
    w.set_string("general.name", options.name.empty() ? std::filesystem::path(adapter.base_model).filename().string() + " LoRA" : options.name);
    w.set_u32("general.file_type", ggml_file_type(options.type));
    w.set_u32("general.quantization_version", 2);
    w.set_string(std::string(kGgufExportKey), std::string(gguf_export_tag(ExportKind::GgufLora)));
    w.set_string("adapter.type", "lora");
    w.set_f32("adapter.lora.alpha", static_cast<float>(gguf_lora_alpha(adapter.config)));

    for (std::int64_t layer = 0; layer < base.num_layers; ++layer) {
        for (LoraTarget t : kAllLoraTargets) {
            const std::string module = lora_module_name(layer, t);
            const auto it = adapter.modules.find(module);
            if (it == adapter.modules.end()) continue;
            const LoraPair& p = it->second;
            const auto [out, in] = base_shape(base, t);
            QLS_CHECK(ConfigError,
                      p.out == out && p.in == in && p.a.size() == std::size_t(p.rank * p.in) &&
                          p.b.size() == std::size_t(p.out * p.rank),
                      "GGUF LoRA export: module '", module, "' is ", p.in, " -> ", p.out, " (rank ", p.rank,
                      "), the base model's weight is ", in, " -> ", out);
            std::vector<float> b = p.b;
            if (arch == "llama" && (t == LoraTarget::Q || t == LoraTarget::K))
                b = permute_qk_rows(b, t == LoraTarget::Q ? base.num_heads : base.num_kv_heads,
                                    base.head_dim);
            const std::string name = hf_to_gguf_tensor_name(module + ".weight");
            const GgmlType ta = factor_type(options.type, p.in), tb = factor_type(options.type, p.rank);
            w.add_tensor(name + ".lora_a", ta, {p.in, p.rank}, ggml_encode(ta, p.a, p.in));
            w.add_tensor(name + ".lora_b", tb, {p.rank, p.out}, ggml_encode(tb, b, p.rank));
        }
    }
    QLS_CHECK(ConfigError, w.tensor_count() == 2 * adapter.modules.size(),
              "GGUF LoRA export: ", adapter.modules.size() - w.tensor_count() / 2,
              " module(s) lie outside the base model's ", base.num_layers, " layers");
    w.write(path);
}

}  // namespace qls
