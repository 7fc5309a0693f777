// peft LoraLayer.get_delta_weight + merge (formats.md §5 "Math"), one tensor at a time.
#include "core/export/merged_weights.h"

#include <algorithm>

#include "core/model/llama_tensors.h"
#include "core/quant/quantize_4bit.h"
#include "core/util/error.h"
#include "core/util/parallel.h"

namespace qls {

namespace {

bool is_linear(const LlamaConfig& c, const std::string& name) {
    for (const ExpectedTensor& e : llama_expected_tensors(c))
        if (e.name == name) return e.linear;
    return false;
}

std::vector<float> base_values(const Weight& w, bool linear, const MergeBase& base) {
    if (w.is_quantized()) {
        // The bytes bitsandbytes' dequantize returns (rounded to the stored dtype), as peft merges.
        const std::vector<std::byte> bytes = dequantize_4bit_to_dtype(*w.quantized);
        return to_f32(TensorView{w.quantized->dtype, w.shape, bytes});
    }
    const DenseValues values = dense_values(w);
    if (linear && base.kind == MergeBase::Kind::Dequantized4bit && !(base.gguf_blocks && w.gguf_blocks)) {
        const Quantized4bit q =
            quantize_4bit(values.view, base.quant_type, base.blocksize, base.double_quant);
        const std::vector<std::byte> bytes = dequantize_4bit_to_dtype(q);
        return to_f32(TensorView{q.dtype, w.shape, bytes});
    }
    return to_f32(values.view);
}

}  // namespace

std::vector<std::string> model_tensor_names(const Model& model) {
    std::vector<std::string> names;
    for (const ExpectedTensor& e : llama_expected_tensors(model.config)) names.push_back(e.name);
    return names;
}

void check_adapter_fits(const Model& model, const LoraAdapter& adapter) {
    for (const auto& [module, p] : adapter.modules) {
        const std::string name = module + ".weight";
        QLS_CHECK(ConfigError, model.weights.contains(name), "LoRA module '", module, "' adapts '", name,
                  "', which model '", model.name, "' does not have");
        const Shape& shape = model.weights.get(name).shape;
        QLS_CHECK(ConfigError, shape == Shape({p.out, p.in}), "LoRA module '", module, "' is ", p.in, " -> ",
                  p.out, " but '", name, "' of model '", model.name, "' has shape ", shape);
        QLS_CHECK(ConfigError,
                  p.a.size() == std::size_t(p.rank * p.in) && p.b.size() == std::size_t(p.out * p.rank),
                  "LoRA module '", module, "': A has ", p.a.size(), " values and B ", p.b.size(),
                  " for rank ", p.rank);
    }
}

void add_lora_delta(std::span<float> w, const LoraPair& p, double scaling) {
    QLS_ASSERT(w.size() == std::size_t(p.out * p.in), "merge: weight has ", w.size(), " values for ", p.out,
               "x", p.in);
    const float s = static_cast<float>(scaling);
    const std::size_t in = std::size_t(p.in), rank = std::size_t(p.rank);
    // Rows per chunk: about 256K multiply-adds, so small layers are not split into tiny tasks.
    const std::size_t grain = std::max<std::size_t>(1, (std::size_t(1) << 18) / (in * rank + 1));
    parallel_for(std::size_t(p.out), grain, [&](std::size_t b, std::size_t e) {
        std::vector<float> delta(in);
        for (std::size_t o = b; o < e; ++o) {
            std::fill(delta.begin(), delta.end(), 0.0f);
            for (std::size_t r = 0; r < rank; ++r) {
                const float coeff = p.b[o * rank + r];
                const float* a = p.a.data() + r * in;
                for (std::size_t i = 0; i < in; ++i) delta[i] += coeff * a[i];
            }
            float* row = w.data() + o * in;
            for (std::size_t i = 0; i < in; ++i) row[i] += delta[i] * s;
        }
    });
}

std::vector<float> merged_tensor(const Model& model, const LoraAdapter* adapter, const std::string& name,
                                 const MergeBase& base) {
    const Weight& w = model.weights.get(name);
    std::vector<float> values = base_values(w, is_linear(model.config, name), base);
    if (adapter && name.ends_with(".weight")) {
        const auto it = adapter->modules.find(name.substr(0, name.size() - 7));
        if (it != adapter->modules.end()) add_lora_delta(values, it->second, adapter->config.scaling());
    }
    return values;
}

}  // namespace qls
