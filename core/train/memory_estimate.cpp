#include "core/train/memory_estimate.h"

#include <algorithm>
#include <bit>

#include "core/backend/memory_accountant.h"
#include "core/inspect/weight_memory.h"
#include "core/model/llama_tensors.h"
#include "core/model/lora_parameters.h"
#include "core/train/adamw_optimizer.h"

namespace qls {

namespace {

struct BaseBytes {
    std::int64_t total = 0;
    DType head = DType::F32;  // the LM head as held (dense)
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
            if (head) out.head = held;
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

std::int64_t lora_param_count(const LlamaConfig& c, const LoraConfig& lora) {
    std::int64_t params = 0;
    for (LoraTarget t : kAllLoraTargets)
        if (lora.targets_module(t)) {
            auto [in, out] = linear_dims(c, t);
            params += lora.rank * (in + out) * c.num_layers;
        }
    return params;
}

// The estimate with MLP chunks of `mlp_chunk` rows (0: none).
MemoryEstimate estimate_with_chunk(const ModelLayout& model, const EstimateOptions& o, std::int64_t mlp_chunk,
                                   const MemoryPlanner& planner) {
    const LlamaConfig& c = model.config;
    MemoryEstimate e;
    auto set = [&](Usage u, std::int64_t b) { e.bytes[static_cast<std::size_t>(u)] = b; };
    const BaseBytes base = base_bytes(model, o.base);
    set(Usage::BaseWeights, base.total);

    const auto lora = static_cast<std::int64_t>(LoraParameters::planned_bytes(c, o.lora));
    set(Usage::LoraParams, lora);
    set(Usage::LoraGrads, lora);
    const std::int64_t params = lora_param_count(c, o.lora);
    set(Usage::OptimizerState,
        optimizer_device_bytes(params, o.paging.device_budget_bytes, o.paging.page_bytes) +
            static_cast<std::int64_t>(AdamWOptimizer::kControlBytes));
    set(Usage::PagedHost, optimizer_host_bytes(params, o.paging.device_budget_bytes, o.paging.page_bytes));

    QLS_CHECK(ConfigError, o.checkpointing || !o.offload_checkpoints,
              "offloading checkpoints needs gradient checkpointing");
    ModelRunOptions run{o.micro_batch, o.seq_len, true, 0, o.base.compute, false, mlp_chunk};
    const bool in_place = layers_in_place(model, o.base);
    const auto with = LlamaModel::planned_bytes(c, run, planner, &o.lora, in_place);
    run.offload_checkpoints = true;
    const auto offloaded = LlamaModel::planned_bytes(c, run, planner, &o.lora, in_place);
    run.offload_checkpoints = false;
    run.checkpointing = false;
    run.mlp_chunk = 0;  // without checkpointing every layer keeps its whole MLP
    const auto without = LlamaModel::planned_bytes(c, run, planner, &o.lora, in_place);
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
    const ModelRunOptions chosen_run{o.micro_batch,          o.seq_len, o.checkpointing, 0, o.base.compute,
                                     o.offload_checkpoints, o.checkpointing ? mlp_chunk : 0};
    e.mlp_chunk = LlamaModel::mlp_rows(chosen_run);
    // The backend's own scratch for the chosen run (reserved by the model when it is made).
    const std::int64_t scratch =
        planner.op_scratch_bytes(LlamaModel::step_shapes(c, chosen_run, &o.lora, in_place, base.head));
    set(Usage::Workspace, static_cast<std::int64_t>(chosen.workspace) + scratch);

    for (Usage u : kAllUsages)
        if (usage_on_device(u)) e.device_total += e.of(u);
    e.device_bytes = o.device_bytes;
    if (o.device_bytes <= 0) {
        e.verdict = str_cat("needs ", format_bytes(e.device_total), " of device memory");
    } else if (e.device_total <= o.device_bytes) {
        e.verdict = str_cat("fits: ", format_bytes(e.device_total), " of ", format_bytes(o.device_bytes), " (",
                            format_bytes(o.device_bytes - e.device_total), " free)",
                            e.mlp_chunk < n ? str_cat(", the MLP in chunks of ", e.mlp_chunk, " rows") : "");
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

}  // namespace

MemoryEstimate estimate_memory(const Model& model, const EstimateOptions& o, const MemoryPlanner& planner) {
    return estimate_memory(model_layout(model), o, planner);
}

MemoryEstimate estimate_memory(const ModelLayout& model, const EstimateOptions& o, const MemoryPlanner& planner) {
    QLS_CHECK(ConfigError, o.micro_batch >= 1 && o.seq_len >= 1,
              "micro-batch and sequence length must be at least 1, got ", o.micro_batch, " and ",
              o.seq_len);
    QLS_CHECK(ConfigError, o.mlp_chunk >= 0 || o.mlp_chunk == EstimateOptions::kMlpChunkAuto,
              "MLP chunk rows must be 0 (none), more, or automatic; got ", o.mlp_chunk);
    QLS_CHECK(ConfigError, o.checkpointing || o.mlp_chunk <= 0,
              "the MLP in chunks of rows needs gradient checkpointing");
    o.lora.validate();
    if (o.mlp_chunk != EstimateOptions::kMlpChunkAuto || !o.checkpointing)
        return estimate_with_chunk(model, o, std::max<std::int64_t>(o.mlp_chunk, 0), planner);
    MemoryEstimate e = estimate_with_chunk(model, o, 0, planner);
    if (e.fits) return e;  // also when there is no budget to fit
    // Powers of two below N, largest first: the first that fits is the cheapest chunking.
    const std::int64_t n = o.micro_batch * o.seq_len;
    for (std::int64_t rows = std::bit_floor(static_cast<std::uint64_t>(n - 1));
         rows >= EstimateOptions::kMinMlpChunk && n > 1; rows /= 2) {
        e = estimate_with_chunk(model, o, rows, planner);
        if (e.fits) break;
    }
    return e;
}

}  // namespace qls
