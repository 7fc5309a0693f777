// The one Llama implementation (formats.md §6.3): explicit forward and backward per layer
// against the Backend interface, LoRA on the adapted linear layers, optional gradient
// checkpointing (keep each layer's input, recompute the layer in backward), and optionally
// those kept inputs offloaded to host memory between forward and backward.
//
// Offloaded checkpoints. The layer inputs live in a ring of device slots, input l in slot
// l mod S. Without offload S = L + 1 and nothing moves. With it S = min(kOffloadSlots, L + 1)
// and inputs 0..L-S move (the last ones are still in their slots when backward starts): in forward
// an input whose slot a later input will take is copied to its PagedHost home on the copy
// stream right after its layer ran (a compute event orders the copy after the layer; the
// layer that next writes the slot waits for the copy's event); in backward it is fetched back
// into its slot while the layer above runs backward (the copy waits for the compute stream,
// which had finished with the slot's previous input; the layer's recompute waits for the
// fetch). No host waits: the CPU backend runs the same schedule with immediate copies.
//
// MLP chunks. With checkpointing the MLP's intermediates (gate|up, its activation and their
// gradients: 6·I values a row, 3.5 times the rest of a layer's at 8B shapes) exist for one chunk
// of rows at a time. Forward runs the MLP chunk by chunk; the recompute stops at its input norm;
// backward recomputes each chunk's gate|up and activation right before that chunk's backward,
// which is the work the recompute did before, so chunks cost no extra arithmetic. LoRA dropout
// masks index the whole activation's elements (mask_row0), so chunked and whole runs drop the
// same values; only the order in which LoRA gradients sum over rows differs.
//
// B batch, T tokens, N = B·T, C hidden, I intermediate, Hq/Hkv heads, D head dim, V vocab.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/backend/backend.h"
#include "core/data/batch.h"
#include "core/model/device_base_model.h"
#include "core/model/lora_parameters.h"

namespace qls {

struct ModelRunOptions {
    std::int64_t max_batch = 1;   // largest B a batch may have
    std::int64_t max_seq = 512;   // largest T
    bool checkpointing = true;
    std::int64_t logits_chunk = 0;  // rows of logits materialized at once; 0: automatic
    // Activations, their gradients and the layer's dequantized weights (backend.h "Precision");
    // the same as the base model's BaseWeightsOptions::compute.
    DType compute = DType::F32;
    // Checkpointed layer inputs wait for backward in host memory (needs checkpointing).
    bool offload_checkpoints = false;
    // Rows of the MLP's (N, 2I) and (N, I) intermediates and their gradients held at once
    // (needs checkpointing); 0: all N. See "MLP chunks" above.
    std::int64_t mlp_chunk = 0;
};

// One move of an offloaded layer input (LlamaModel::drain_checkpoint_moves).
struct CheckpointMove {
    bool to_host = true;      // forward's copy out, else backward's fetch
    std::int64_t layer = 0;   // whose input
    std::int64_t bytes = 0;   // the batch's rows of the (N, C) input
    std::chrono::steady_clock::time_point at;  // when it was issued
};

struct LossSum {
    double loss = 0;          // Σ token losses over trained targets
    std::int64_t tokens = 0;  // trained targets
    double mean() const { return tokens ? loss / static_cast<double>(tokens) : 0.0; }
};

class LlamaModel {
public:
    // lora may be null (the base model alone). Allocates every activation and workspace buffer
    // for the largest batch now, so memory use is known before the first step.
    LlamaModel(Backend& backend, const DeviceBaseModel& base, LoraParameters* lora,
               const ModelRunOptions& options);

    // The loss is summed on the device (loss_sum(), F32 (1)) over every micro-batch since
    // reset_loss(); the host knows the token count, so nothing is read back until read_loss()
    // or the optimizer step that takes loss_sum().
    void reset_loss();
    const Tensor& loss_sum() const { return m_loss_sum; }
    LossSum read_loss();  // one host read

    // Forward, loss and backward of one micro-batch. LoRA gradients accumulate, scaled by
    // grad_scale (1 / trained tokens of the whole accumulated batch); the loss adds to
    // loss_sum(). dropout_seed draws this micro-batch's LoRA dropout masks.
    void forward_backward(const Batch& batch, float grad_scale, std::uint64_t dropout_seed);
    // Loss without gradients or dropout (validation), added to loss_sum().
    void add_loss(const Batch& batch);
    // reset_loss, add_loss, read_loss: the loss of one batch.
    LossSum evaluate(const Batch& batch);
    // (B, T, V) logits, no dropout, as stored in the compute dtype, widened to fp32.
    std::vector<float> logits(const Batch& batch);

    // The offloaded inputs' moves since the last drain, oldest first (none without offload).
    std::vector<CheckpointMove> drain_checkpoint_moves() { return std::exchange(m_moves, {}); }

    // Device slots for layer inputs with offload: one the running layer reads, one it writes,
    // one whose input drains to the host meanwhile (with two, the next layer would wait for
    // the copy of the input just used); backward double-buffers two of them.
    static constexpr std::int64_t kOffloadSlots = 3;
    static std::int64_t default_logits_chunk(const LlamaConfig& c, std::int64_t rows);
    // Rows of each MLP chunk for `options`: mlp_chunk capped at N, or N.
    static std::int64_t mlp_rows(const ModelRunOptions& options);
    // Bytes of the activation (kept for backward) and workspace buffers this model allocates
    // for `options`, and of the host memory that offloaded inputs wait in (Usage::PagedHost),
    // without allocating: the memory estimate uses the same plan.
    struct PlannedBytes {
        std::size_t activations = 0, workspace = 0, offload_host = 0;
    };
    // The backend says what its ops need beside the model's own tensors (attention workspace).
    // weights_in_place: the base holds its layers stacked in the compute dtype
    // (layers_in_compute_dtype), so no workspace holds a dequantized layer.
    static PlannedBytes planned_bytes(const LlamaConfig& c, const ModelRunOptions& options,
                                      const MemoryPlanner& planner, const LoraConfig* lora, bool weights_in_place);
    // The shapes of the step's ops, for the backend's own scratch (Backend::op_scratch_bytes,
    // which the model reserves when it is made). head_weight: the LM head's dtype as held.
    static StepShapes step_shapes(const LlamaConfig& c, const ModelRunOptions& options, const LoraConfig* lora,
                                  bool weights_in_place, DType head_weight);

private:
    struct LayerActs {
        Tensor norm1, rstd1;     // (N, C), (N)
        Tensor qkv;              // (N, Hq·D + 2·Hkv·D): q|k|v, q and k after RoPE
        Tensor att, lse;         // (N, Hq·D), (Hq, N)
        Tensor h1;               // (N, C) residual stream after attention
        Tensor norm2, rstd2;     // (N, C), (N)
        Tensor gate_up, act;     // (R, 2I): gate|up, (R, I); R = mlp_rows, the chunk's rows
        // x·Aᵀ of each linear's adapters, kept for backward: (N, Σ r) or empty.
        Tensor xa_qkv, xa_o, xa_gate_up, xa_down;
    };
    struct Grads {
        Tensor residual;         // (N, C) gradient of the residual stream
        Tensor norm;             // (N, C)
        Tensor att, qkv;         // (N, Hq·D), (N, Hq·D + 2·Hkv·D)
        Tensor act, gate_up;     // (R, I), (R, 2I)
    };
    // One layer's base weights stacked as q|k|v and gate|up: one GEMM each where the layer had
    // three and two. The base's own stacked tensors when they are dense in the compute dtype;
    // else dequantized (or converted) once into the workspace. Every linear of the layer's
    // forward, recompute and backward reads these.
    struct LayerWeights {
        LinearWeight qkv, o, gate_up, down;  // dense views of the workspace, in the compute dtype
    };
    const LayerWeights& materialize(std::int64_t layer);
    struct Shapes {
        std::int64_t b, t, n;
        std::int64_t sequences, max_seqlen;  // packed sequences for attention (m_cu_seqlens)
        std::int64_t trained;                // rows with a target (m_head_rows)
    };

    struct Plans;
    static Plans make_plans(const LlamaConfig& c, const ModelRunOptions& options, std::int64_t chunk,
                            const MemoryPlanner& planner, const LoraConfig* lora, bool weights_in_place);
    void plan_buffers();
    LayerActs layer_acts(const BufferPlan& plan, const Buffer& buf, const std::vector<std::size_t>& ids,
                         std::size_t first) const;
    // Checks every id, position and segment on the host (DataError naming what is wrong), so
    // no op has to check data on the device, then uploads.
    Shapes upload_batch(const Batch& batch);
    // for_backward: offload the inputs backward will fetch again.
    void embed_and_run_layers(const Shapes& s, std::uint64_t dropout_seed, bool use_dropout, bool for_backward);
    // The ring of layer inputs (see the top of this file).
    const Tensor& input(std::int64_t l) const { return m_inputs[static_cast<std::size_t>(l) % m_inputs.size()]; }
    // Whether input l leaves the device between forward and backward: its slot is taken by a later one.
    bool offloaded(std::int64_t l) const;
    void offload_input(std::int64_t l, std::int64_t rows);
    void fetch_input(std::int64_t l, std::int64_t rows);
    void wait_for_slot(std::int64_t l);  // before input l is written into its slot
    std::span<std::byte> host_input(std::int64_t l, std::int64_t rows) const;
    // out == nullptr recomputes what backward needs before the MLP (which backward recomputes
    // chunk by chunk).
    void layer_forward(std::int64_t l, const Shapes& s, const LayerActs& a, const Tensor& x,
                       const Tensor* out, std::uint64_t dropout_seed, bool use_dropout);
    void layer_backward(std::int64_t l, const Shapes& s, const LayerActs& a, const Tensor& x,
                        std::uint64_t dropout_seed, bool use_dropout);
    void mlp_up(std::int64_t l, const LayerActs& a, const LayerWeights& w, std::int64_t r0, std::int64_t rows,
                std::uint64_t dropout_seed, bool use_dropout);
    // Final norm, LM head and loss of the rows with a target, the loss added to m_loss_sum.
    void head_loss(const Shapes& s, float grad_scale, bool backward);
    const LayerActs& acts_for(std::int64_t layer) const;
    LoraView lora_view(std::int64_t layer, LoraTarget t, std::uint64_t seed, bool use_dropout,
                       bool with_grads) const;
    // The adapters of a (stacked) linear: each adapted target with its output offset.
    std::vector<LoraPart> lora_parts(std::int64_t layer, std::initializer_list<std::pair<LoraTarget, std::int64_t>> targets,
                                     std::uint64_t seed, bool use_dropout, bool with_grads) const;

    Backend& m_backend;
    const DeviceBaseModel& m_base;
    LoraParameters* m_lora;
    ModelRunOptions m_options;
    std::int64_t m_chunk = 0;      // logits rows at once
    std::int64_t m_mlp_rows = 0;   // MLP rows at once

    Buffer m_act_buffer, m_work_buffer;
    Tensor m_tokens, m_positions;  // (N) I32
    Tensor m_targets;              // (N) I32: the M targets of m_head_rows, packed
    Tensor m_cu_seqlens;                       // (N + 1) I32, the first sequences + 1 in use
    Tensor m_attention_workspace;              // U8, as the backend asked
    Tensor m_head_rows;                        // (N) I32: rows with a target, the first M in use
    Tensor m_head_in;                          // (N, C): their final hidden states, gathered
    LayerWeights m_layer_weights;              // the workspace views
    std::array<std::int64_t, 4> m_qkv_rows{};  // where q, k, v start in q|k|v, and its end
    std::int64_t m_materialized = -1;          // the layer they hold, or -1
    std::vector<Tensor> m_inputs;   // S × (N, C): the ring of layer inputs and the final layer's output
    Buffer m_offload_host;          // offloaded inputs 0..L-S, PagedHost; empty without offload
    std::vector<Event> m_slot_free;     // [slot] the copy out of its input, not yet waited for
    std::vector<Event> m_slot_fetched;  // [slot] the fetch into it, not yet waited for
    std::vector<CheckpointMove> m_moves;
    Tensor m_normf, m_rstdf;        // (N, C), (N): the final norm of the loss rows (of all in logits())
    std::vector<LayerActs> m_acts;  // L sets without checkpointing, 1 recomputed set with
    Tensor m_tmp;                   // (N, C) the final norm's input gradient
    Grads m_grads;
    Tensor m_logits, m_losses;            // (chunk, V), (N)
    Tensor m_loss_sum;                    // (1) F32 on the device
    std::int64_t m_loss_tokens = 0;       // trained targets summed into it
    Tensor m_rope_cos, m_rope_sin;        // (max_seq, D/2)
};

}  // namespace qls
