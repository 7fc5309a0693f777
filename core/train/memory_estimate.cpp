#include "core/train/memory_estimate.h"

#include <algorithm>

#include "core/backend/memory_accountant.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/inspect/weight_memory.h"
#include "core/model/llama_tensors.h"
#include "core/model/lora_parameters.h"
#include "core/train/adamw_optimizer.h"

namespace qls {

namespace {

struct BaseBytes {
    std::int64_t total = 0;
    // Elements of the LM head the CPU converts to fp32 at a time (a 16-bit head).
    std::int64_t converted_head = 0;
};

// What DeviceBaseModel uploads: linear weights in 4-bit (pre-quantized, or quantized on load),
// in a GGUF's own blocks, or as stored; everything else as stored.
BaseBytes base_bytes(const ModelLayout& model, const BaseWeightsOptions& opt) {
    BaseBytes out;
    const LlamaConfig& c = model.config;
    for (const StoredTensor& t : model.tensors) {
        const std::int64_t n = numel(t.shape);
        const bool head = t.name == "lm_head.weight" || (c.tie_word_embeddings && t.name == "model.embed_tokens.weight");
        if (t.quant) {
            out.total += static_cast<std::int64_t>(quantized_tensor_bytes(n, t.quant->blocksize, t.quant->double_quant));
        } else if (t.linear && t.gguf_blocks && opt.gguf_blocks) {
            const GgmlTypeInfo* info = ggml_type_info(*t.gguf_blocks);
            out.total += n / info->block_size * info->type_size;
        } else if (t.linear && opt.quant) {
            out.total += static_cast<std::int64_t>(quantized_tensor_bytes(n, opt.blocksize, opt.double_quant));
        } else {
            // DeviceBaseModel holds the embedding and head in the compute dtype (head_dtype).
            const bool big = t.name == "lm_head.weight" || t.name == "model.embed_tokens.weight";
            const DType held = big ? head_dtype(t.dtype, opt.compute) : t.dtype;
            out.total += n * static_cast<std::int64_t>(dtype_size(held));
            if (head && held != DType::F32)
                out.converted_head = CpuBackend::converted_weight_elements(t.shape.at(0), t.shape.at(1));
        }
    }
    return out;
}

// DeviceBaseModel's layers_in_compute_dtype, from the layout: a dense base whose linear weights
// are all stored in the compute dtype is used in place, with no per-layer copy.
bool layers_in_place(const ModelLayout& model, const BaseWeightsOptions& opt) {
    if (opt.quant) return false;
    for (const StoredTensor& t : model.tensors)
        if (t.linear && (t.quant || (t.gguf_blocks && opt.gguf_blocks) || t.dtype != opt.compute)) return false;
    return true;
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

// Elements of the largest stacked weight of a layer, which the CPU converts to fp32 on every use
// when the model's workspace holds it in a 16-bit compute dtype.
std::int64_t largest_layer_weight(const LlamaConfig& c) {
    const std::int64_t h = c.hidden_size, inter = c.intermediate_size;
    const std::int64_t qkv = (c.num_heads + 2 * c.num_kv_heads) * c.head_dim;
    return std::max({qkv * h, c.num_heads * c.head_dim * h, 2 * inter * h});
}

// Elements of the Weight scratch for the layer's 16-bit weights: converted a block at a time.
std::int64_t converted_layer_weight(const LlamaConfig& c) {
    const std::int64_t h = c.hidden_size, inter = c.intermediate_size, qd = c.num_heads * c.head_dim;
    const std::int64_t qkv = qd + 2 * c.num_kv_heads * c.head_dim;
    return std::max({CpuBackend::converted_weight_elements(qkv, h), CpuBackend::converted_weight_elements(h, qd),
                     CpuBackend::converted_weight_elements(2 * inter, h),
                     CpuBackend::converted_weight_elements(h, inter)});
}

// With a 16-bit compute dtype the CPU backend gives each op fp32 copies of its activations
// (cpu_twin.h); the arena grows to the op that has the most of them. N rows, `chunk` logits rows.
std::int64_t cpu_twin_floats(const LlamaConfig& c, std::int64_t n, std::int64_t chunk, bool weights_in_place) {
    const std::int64_t h = c.hidden_size, inter = c.intermediate_size, v = c.vocab_size;
    const std::int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim, qkv = qd + 2 * kvd;
    return std::max({
        3 * n * h,                          // RMSNorm backward: x, dy, dx
        n * h + n * qkv + n * h,            // q|k|v backward: x, dout, dx
        2 * n * qd + n * h,                 // o: backward x, dout, dx (forward: x, out, residual)
        n * qd + 2 * n * h,
        2 * n * h + 2 * n * inter,          // gate|up backward
        2 * n * inter + n * h,              // down backward (forward: x, out, residual)
        n * inter + 2 * n * h,
        2 * chunk * h + chunk * v,          // LM head backward: x, dlogits, dx
        4 * n * qd + 4 * n * kvd,           // attention backward: q, k, v, out, dout, dq, dk, dv
        5 * n * inter,                      // SwiGLU backward: gate, up, dout, dgate, dup
        weights_in_place ? 0 : largest_layer_weight(c),  // dequantize_weight into the layer's workspace
    });
}

}  // namespace

MemoryEstimate estimate_memory(const Model& model, const EstimateOptions& o, const Backend& backend) {
    return estimate_memory(model_layout(model), o, backend);
}

MemoryEstimate estimate_memory(const ModelLayout& model, const EstimateOptions& o, const Backend& backend) {
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

    QLS_CHECK(ConfigError, o.checkpointing || !o.offload_checkpoints,
              "offloading checkpoints needs gradient checkpointing");
    ModelRunOptions run{o.micro_batch, o.seq_len, true, 0, o.base.compute};
    const bool in_place = layers_in_place(model, o.base);
    const auto with = LlamaModel::planned_bytes(c, run, backend, &o.lora, in_place);
    run.offload_checkpoints = true;
    const auto offloaded = LlamaModel::planned_bytes(c, run, backend, &o.lora, in_place);
    run.offload_checkpoints = false;
    run.checkpointing = false;
    const auto without = LlamaModel::planned_bytes(c, run, backend, &o.lora, in_place);
    const auto& chosen = o.offload_checkpoints ? offloaded : o.checkpointing ? with : without;
    e.activations_checkpointed = static_cast<std::int64_t>(with.activations);
    e.activations_full = static_cast<std::int64_t>(without.activations);
    e.activations_offloaded = static_cast<std::int64_t>(offloaded.activations);
    e.offload_host = static_cast<std::int64_t>(chosen.offload_host);
    set(Usage::Activations, static_cast<std::int64_t>(chosen.activations));
    set(Usage::PagedHost, e.of(Usage::PagedHost) + e.offload_host);
    const std::int64_t n = o.micro_batch * o.seq_len;
    const std::int64_t chunk = LlamaModel::default_logits_chunk(c, n);
    e.logits_workspace = chunk * c.vocab_size * static_cast<std::int64_t>(dtype_size(o.base.compute));
    // CPU backend scratch: the fp32 copy of a 16-bit weight (the LM head; with a 16-bit compute
    // dtype the layer's weights too), dropout(x) and the (N, Σ r) input gradient of one stacked
    // linear's adapters (the model keeps every x·Aᵀ itself), and the fp32 twin's copies.
    std::int64_t group_rank = 0;
    for (LinearGroup g : kLinearGroups) group_rank = std::max(group_rank, o.lora.group_rank(g));
    const bool wide = o.base.compute == DType::F32;
    const std::int64_t converted = std::max(base.converted_head, wide ? 0 : converted_layer_weight(c));
    const std::int64_t twin = wide ? 0 : cpu_twin_floats(c, n, chunk, in_place);
    const std::int64_t scratch = (converted + n * shape.largest_in + n * group_rank + twin) * 4;
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
        std::string advice = !o.checkpointing ? "turn gradient checkpointing on (saves " +
                                                    format_bytes(e.activations_full - e.activations_checkpointed) + ")"
                             : !o.offload_checkpoints && e.activations_offloaded < e.activations_checkpointed
                                 ? "offload checkpoints to host memory (saves " +
                                       format_bytes(e.activations_checkpointed - e.activations_offloaded) +
                                       "), lower the micro-batch or sequence length"
                                 : "lower the micro-batch or sequence length";
        if (!o.base.quant) advice += ", quantize the base to NF4";
        e.verdict = str_cat("does not fit: needs ", format_bytes(e.device_total), ", have ",
                            format_bytes(o.device_bytes), "; ", advice);
    }
    return e;
}

}  // namespace qls
