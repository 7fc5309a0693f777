#include "core/train/memory_estimate.h"

#include <algorithm>

#include "core/backend/buffer.h"
#include "core/backend/memory_accountant.h"
#include "core/model/lora_parameters.h"

namespace qls {

namespace {

std::int64_t quantized_bytes(std::int64_t n, std::int64_t blocksize, bool nested) {
    const std::int64_t blocks = (n + blocksize - 1) / blocksize;
    std::int64_t b = (n + 1) / 2 + 16 * 4;  // codes + quant_map
    if (nested)
        b += blocks + (blocks + 255) / 256 * 4 + 256 * 4;  // 8-bit codes, nested absmax, code map
    else
        b += blocks * 4;
    return b;
}

struct BaseBytes {
    std::int64_t total = 0;
    std::int64_t largest_converted = 0;  // elements of the largest weight the CPU converts to fp32
};

BaseBytes base_bytes(const Model& model, const BaseWeightsOptions& opt) {
    BaseBytes out;
    const LlamaConfig& c = model.config;
    auto dense = [&](const Weight& w) {
        out.total += w.view.numel() * static_cast<std::int64_t>(dtype_size(w.view.dtype));
    };
    const Weight& embed = model.weights.get("model.embed_tokens.weight");
    dense(embed);
    dense(model.weights.get("model.norm.weight"));
    const Weight& head = c.tie_word_embeddings ? embed : model.weights.get("lm_head.weight");
    if (!c.tie_word_embeddings) dense(head);
    if (head.view.dtype != DType::F32) out.largest_converted = numel(head.shape);
    for (std::int64_t l = 0; l < c.num_layers; ++l) {
        const std::string p = str_cat("model.layers.", l, ".");
        dense(model.weights.get(p + "input_layernorm.weight"));
        dense(model.weights.get(p + "post_attention_layernorm.weight"));
        for (LoraTarget t : kAllLoraTargets) {
            const bool attn = t == LoraTarget::Q || t == LoraTarget::K || t == LoraTarget::V || t == LoraTarget::O;
            const std::string name = p + (attn ? "self_attn." : "mlp.") + std::string(lora_target_name(t));
            const Weight& w = model.weights.get(name + ".weight");
            if (model.weights.contains(name + ".bias")) dense(model.weights.get(name + ".bias"));
            const std::int64_t n = numel(w.shape);
            if (w.is_quantized()) {
                out.total += quantized_bytes(n, w.quantized->blocksize, w.quantized->nested.has_value());
            } else if (opt.quant) {
                out.total += quantized_bytes(n, opt.blocksize, opt.double_quant);
            } else {
                dense(w);
                if (w.view.dtype == DType::F32) continue;
            }
            out.largest_converted = std::max(out.largest_converted, n);
        }
    }
    return out;
}

std::int64_t lora_plan_bytes(const LlamaConfig& c, const LoraConfig& lora, std::int64_t* largest_in) {
    BufferPlan plan;
    for (std::int64_t l = 0; l < c.num_layers; ++l)
        for (LoraTarget t : kAllLoraTargets) {
            if (!lora.targets_module(t)) continue;
            auto [in, out] = linear_dims(c, t);
            *largest_in = std::max(*largest_in, in);
            plan.add("A", DType::F32, {lora.rank, in});
            plan.add("B", DType::F32, {out, lora.rank});
        }
    return static_cast<std::int64_t>(plan.total_bytes());
}

std::int64_t lora_param_count(const LlamaConfig& c, const LoraConfig& lora) {
    std::int64_t n = 0;
    for (LoraTarget t : kAllLoraTargets)
        if (lora.targets_module(t)) {
            auto [in, out] = linear_dims(c, t);
            n += lora.rank * (in + out);
        }
    return n * c.num_layers;
}

}  // namespace

MemoryEstimate estimate_memory(const Model& model, const EstimateOptions& o) {
    const LlamaConfig& c = model.config;
    QLS_CHECK(ConfigError, o.micro_batch >= 1 && o.seq_len >= 1,
              "micro-batch and sequence length must be at least 1, got ", o.micro_batch, " and ",
              o.seq_len);
    o.lora.validate();
    MemoryEstimate e;
    auto set = [&](Usage u, std::int64_t b) { e.bytes[static_cast<std::size_t>(u)] = b; };
    const BaseBytes base = base_bytes(model, o.base);
    set(Usage::BaseWeights, base.total);

    std::int64_t largest_in = 0;
    const std::int64_t lora = lora_plan_bytes(c, o.lora, &largest_in);
    set(Usage::LoraParams, lora);
    set(Usage::LoraGrads, lora);
    const std::int64_t params = lora_param_count(c, o.lora);
    set(Usage::OptimizerState, optimizer_device_bytes(params, o.paging.device_budget_bytes, o.paging.page_bytes));
    set(Usage::PagedHost, optimizer_host_bytes(params, o.paging.device_budget_bytes, o.paging.page_bytes));

    ModelRunOptions run{o.micro_batch, o.seq_len, true, 0};
    const auto with = LlamaModel::planned_bytes(c, run);
    run.checkpointing = false;
    const auto without = LlamaModel::planned_bytes(c, run);
    const auto& chosen = o.checkpointing ? with : without;
    e.activations_checkpointed = static_cast<std::int64_t>(with.activations);
    e.activations_full = static_cast<std::int64_t>(without.activations);
    set(Usage::Activations, static_cast<std::int64_t>(chosen.activations));
    const std::int64_t n = o.micro_batch * o.seq_len;
    e.logits_workspace = LlamaModel::default_logits_chunk(c, n) * c.vocab_size * 4;
    // CPU backend scratch: the fp32 copy of a converted weight, dropout(x) and two (N, r) products.
    const std::int64_t scratch = base.largest_converted * 4 + n * largest_in * 4 + 2 * n * o.lora.rank * 4;
    set(Usage::Workspace, static_cast<std::int64_t>(chosen.workspace) + scratch);

    for (Usage u : kAllUsages)
        if (usage_on_device(u)) e.device_total += e.of(u);
    e.device_bytes = o.device_bytes;
    if (o.device_bytes <= 0) {
        e.verdict = str_cat("needs ", format_bytes(e.device_total), " of device memory");
    } else if (e.device_total <= o.device_bytes) {
        e.verdict = str_cat("fits: ", format_bytes(e.device_total), " of ", format_bytes(o.device_bytes), " (",
                            format_bytes(o.device_bytes - e.device_total), " free)");
    } else {
        e.fits = false;
        std::string advice = o.checkpointing ? "lower the micro-batch or sequence length"
                                             : "turn gradient checkpointing on (saves " +
                                                   format_bytes(e.activations_full - e.activations_checkpointed) + ")";
        if (!o.base.quant) advice += ", quantize the base to NF4";
        e.verdict = str_cat("does not fit: needs ", format_bytes(e.device_total), ", have ",
                            format_bytes(o.device_bytes), "; ", advice);
    }
    return e;
}

}  // namespace qls
