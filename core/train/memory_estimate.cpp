#include "core/train/memory_estimate.h"

#include <algorithm>

#include "core/backend/memory_accountant.h"
#include "core/inspect/weight_memory.h"
#include "core/model/llama_tensors.h"
#include "core/model/lora_parameters.h"
#include "core/train/adamw_optimizer.h"

namespace qls {

namespace {

struct BaseBytes {
    std::int64_t total = 0;
    // Elements of the LM head when the CPU converts it to fp32 on every use (a 16-bit head); the
    // layers' weights are converted once per layer into the model's own workspace instead.
    std::int64_t converted_head = 0;
};

// What DeviceBaseModel uploads: linear weights in 4-bit (pre-quantized, or quantized on load)
// or as stored; everything else as stored.
BaseBytes base_bytes(const Model& model, const BaseWeightsOptions& opt) {
    BaseBytes out;
    const LlamaConfig& c = model.config;
    for (const ExpectedTensor& e : llama_expected_tensors(c)) {
        const Weight& w = model.weights.get(e.name);
        const std::int64_t n = numel(w.shape);
        const bool head = e.name == "lm_head.weight" || (c.tie_word_embeddings && e.name == "model.embed_tokens.weight");
        if (w.is_quantized()) {
            out.total += static_cast<std::int64_t>(
                quantized_tensor_bytes(n, w.quantized->blocksize, w.quantized->nested.has_value()));
        } else if (e.linear && opt.quant) {
            out.total += static_cast<std::int64_t>(quantized_tensor_bytes(n, opt.blocksize, opt.double_quant));
        } else {
            out.total += n * static_cast<std::int64_t>(dtype_size(w.view.dtype));
            if (head && w.view.dtype != DType::F32) out.converted_head = n;
        }
    }
    return out;
}

struct LoraShape {
    std::int64_t params = 0;
    std::int64_t largest_in = 0;
};

LoraShape lora_shape(const LlamaConfig& c, const LoraConfig& lora) {
    LoraShape s;
    for (LoraTarget t : kAllLoraTargets)
        if (lora.targets_module(t)) {
            auto [in, out] = linear_dims(c, t);
            s.params += lora.rank * (in + out) * c.num_layers;
            s.largest_in = std::max(s.largest_in, in);
        }
    return s;
}

}  // namespace

MemoryEstimate estimate_memory(const Model& model, const EstimateOptions& o, const Backend& backend) {
    const LlamaConfig& c = model.config;
    QLS_CHECK(ConfigError, o.micro_batch >= 1 && o.seq_len >= 1,
              "micro-batch and sequence length must be at least 1, got ", o.micro_batch, " and ",
              o.seq_len);
    o.lora.validate();
    MemoryEstimate e;
    auto set = [&](Usage u, std::int64_t b) { e.bytes[static_cast<std::size_t>(u)] = b; };
    const BaseBytes base = base_bytes(model, o.base);
    set(Usage::BaseWeights, base.total);

    const auto lora = static_cast<std::int64_t>(LoraParameters::planned_bytes(c, o.lora));
    set(Usage::LoraParams, lora);
    set(Usage::LoraGrads, lora);
    const LoraShape shape = lora_shape(c, o.lora);
    set(Usage::OptimizerState,
        optimizer_device_bytes(shape.params, o.paging.device_budget_bytes, o.paging.page_bytes) +
            static_cast<std::int64_t>(AdamWOptimizer::kControlBytes));
    set(Usage::PagedHost, optimizer_host_bytes(shape.params, o.paging.device_budget_bytes, o.paging.page_bytes));

    ModelRunOptions run{o.micro_batch, o.seq_len, true, 0};
    const auto with = LlamaModel::planned_bytes(c, run, backend, &o.lora);
    run.checkpointing = false;
    const auto without = LlamaModel::planned_bytes(c, run, backend, &o.lora);
    const auto& chosen = o.checkpointing ? with : without;
    e.activations_checkpointed = static_cast<std::int64_t>(with.activations);
    e.activations_full = static_cast<std::int64_t>(without.activations);
    set(Usage::Activations, static_cast<std::int64_t>(chosen.activations));
    const std::int64_t n = o.micro_batch * o.seq_len;
    e.logits_workspace = LlamaModel::default_logits_chunk(c, n) * c.vocab_size * 4;
    // CPU backend scratch: the fp32 copy of a 16-bit LM head, dropout(x) and the (N, Σ r) input
    // gradient of one stacked linear's adapters (the model keeps every x·Aᵀ itself).
    std::int64_t group_rank = 0;
    for (LinearGroup g : kLinearGroups) group_rank = std::max(group_rank, o.lora.group_rank(g));
    const std::int64_t scratch = base.converted_head * 4 + n * shape.largest_in * 4 + n * group_rank * 4;
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
