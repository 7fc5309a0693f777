// The one interface the model is written against (STYLE.md §2). Each op is a pair
// <op>_forward / <op>_backward with an argument struct; the non-virtual method checks shapes
// and dtypes once, then calls the backend's *_impl. The CPU backend (core/backend/cpu) is the
// readable reference; the CUDA backend (kernels/) must match it op by op.
//
// Precision. A run has a compute dtype A (F32, BF16 or F16; util/compute_dtype.h). Fields
// written "A" below are activations or their gradients: every A tensor of one op has the same
// dtype. An op reads its A inputs, computes in fp32 (GEMM accumulation, RMSNorm statistics,
// softmax max/sum and log-sum-exp, cross-entropy, SwiGLU, RoPE) and rounds each A output once,
// to nearest even, when it stores it; an accumulating output is read, added to in fp32 and
// rounded once. The CPU backend does exactly this (cpu_twin.h), so a device kernel matches it
// up to fp32 summation order and one rounding of A. Always F32: norm statistics (rstd), the
// log-sum-exp, losses, LoRA weights, their x·Aᵀ, their gradients and optimizer state. Frozen
// weights are F32/BF16/F16 or 4-bit in whatever dtype they are stored. A GPU multiplies 16-bit
// activations by a 16-bit weight (tensor cores take both operands in one dtype), so a 4-bit or
// F32 base weight meets BF16/F16 activations rounded to their dtype there, where the CPU keeps
// it in fp32; the model never relies on either, as it hands every linear its layer's weights
// already in the compute dtype (dequantize_weight into its layer workspace).
//
// The contract every op keeps unless its struct says otherwise:
// - Shapes and dtypes as commented on each field.
// - Tensors are packed; only the fields marked "may be strided" accept a column block of a
//   stacked activation (Tensor::row_stride).
// - Outputs never alias inputs, except where noted (RoPE in place, cross-entropy's gradient
//   over its logits, a residual that is the output itself).
// - "Overwritten" outputs need no initial value; "accumulate" adds to what is there.
// - Data (token ids, targets, positions, sequence offsets) is valid: the model checks it on
//   the host; ops never check data, so a device never syncs to throw.
// - Work is ordered on the compute stream and may run asynchronously; the host sees results
//   only through the synchronizing calls below (see "Ordering").
// - Scratch an op needs beyond its arguments is either asked for (attention_workspace_bytes)
//   and planned by the caller, or the backend's own, accounted as Usage::Workspace, said by
//   op_scratch_bytes and reserved up front by reserve_op_scratch.
//
// N tokens (B·T), C hidden, I intermediate, Hq/Hkv heads, D head dim, V vocab, r LoRA rank.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/backend/buffer.h"
#include "core/backend/linear_weight.h"
#include "core/backend/memory_accountant.h"
#include "core/backend/step_shapes.h"
#include "core/backend/tensor.h"

namespace qls {

// Activation gradients overwrite their output; LoRA gradients accumulate over micro-batches.
enum class GradMode : std::uint8_t { Overwrite, Accumulate };

// The trainable adapter of one linear layer (formats.md §5):
// y = base(x) + scaling · B · A · dropout(x).
struct LoraView {
    Tensor a, b;    // F32 (r, in), (out, r)
    Tensor da, db;  // F32 gradients, same shapes; empty when no gradient is wanted
    float scaling = 1.0f;
    float dropout = 0.0f;        // probability p; survivors are scaled by 1 / (1 - p)
    std::uint64_t dropout_seed = 0;  // the mask is a pure function of (seed, element index), so
                                     // backward regenerates it instead of storing it
};

// One adapter of a linear whose weight may stack several modules along its output (q|k|v,
// gate|up): it adds scaling · B · A · dropout(x) to output columns [offset, offset + B rows).
struct LoraPart {
    LoraView view;
    std::int64_t offset = 0;
};

// y = residual + x·Wᵀ + bias + Σ adapters. The base weight gets no gradient.
struct LinearForwardArgs {
    Tensor x;                     // A (N, in)
    const LinearWeight* weight = nullptr;
    std::span<const LoraPart> lora;  // may be empty
    Tensor out;                   // A (N, out), overwritten: one rounding of the whole sum
    Tensor residual;              // optional A (N, out), added (cuBLASLt's C); may be `out` itself
    Tensor lora_xa;               // optional F32 (N, Σ r): every part's dropout(x)·Aᵀ, kept for backward
    // x's first row within the whole activation when x is a chunk of its rows: dropout masks
    // index elements of the whole activation, so chunked and whole calls drop the same ones.
    std::int64_t mask_row0 = 0;
};
struct LinearBackwardArgs {
    Tensor x;                     // A (N, in), the forward input
    Tensor dout;                  // A (N, out)
    const LinearWeight* weight = nullptr;
    std::span<const LoraPart> lora;  // their da/db accumulate (F32)
    Tensor lora_xa;               // optional F32 (N, Σ r): x·Aᵀ storage, as in forward
    bool lora_xa_ready = false;   // it holds forward's values (else backward computes them there)
    Tensor dx;                    // A (N, in); empty when the input needs no gradient
    GradMode dx_mode = GradMode::Overwrite;
    std::int64_t mask_row0 = 0;   // as in forward
};

struct RmsNormForwardArgs {
    Tensor x;       // A (N, C)
    Tensor weight;  // (C) F32/BF16/F16, frozen
    float eps = 1e-6f;
    Tensor out;     // A (N, C)
    Tensor rstd;    // (N) F32, saved for backward
};
struct RmsNormBackwardArgs {
    Tensor x, weight, rstd;  // as in forward
    Tensor dout;             // A (N, C)
    Tensor dx;               // A (N, C)
    GradMode dx_mode = GradMode::Overwrite;
};

// HF rotate_half RoPE (formats.md §6.3), in place on x. Backward rotates by the opposite angle.
struct RopeArgs {
    Tensor x;          // A (N, H, D), rotated in place; rows may be strided (q or k of q|k|v)
    Tensor positions;  // (N) I32, each in [0, P) (validated on the host)
    Tensor cos, sin;   // (P, D/2) F32 tables for positions 0..P-1
};

// Causal attention over packed variable-length sequences (FlashAttention's "varlen" layout):
// the N tokens of a micro-batch lie one after another and sequence s is tokens
// [cu_seqlens[s], cu_seqlens[s+1]); a token attends to earlier tokens of its own sequence
// only. GQA: query head h reads KV head h / (Hq/Hkv). The log-sum-exp of each query's scaled
// scores is saved for backward, so no N×N (or T×T) matrix is ever kept. Workspace: what
// attention_workspace_bytes() asks for this shape when the memory is planned (U8, reused
// freely between calls; the CPU runs as many threads as it has room for).
// Padding is just more sequences (the model gives each run of padding its own): their
// outputs are finite and carry no loss.
struct AttentionShape {
    std::int64_t tokens = 0;      // N
    std::int64_t max_seqlen = 0;  // the longest sequence
    std::int64_t hq = 0, hkv = 0, d = 0;
};
struct AttentionForwardArgs {
    Tensor q;           // A (N, Hq, D); q, k, v may be column blocks of q|k|v (strided rows)
    Tensor k, v;        // A (N, Hkv, D)
    Tensor cu_seqlens;  // (S + 1) I32: 0 = cu[0] < cu[1] < ... < cu[S] = N (validated on the host)
    std::int64_t max_seqlen = 0;  // max over s of cu[s+1] - cu[s]
    float scale = 1.0f;  // D^-0.5
    Tensor out;          // A (N, Hq, D)
    Tensor lse;          // (Hq, N) F32, saved for backward
    Tensor workspace;    // U8
};
struct AttentionBackwardArgs {
    Tensor q, k, v, cu_seqlens;  // as in forward
    std::int64_t max_seqlen = 0;
    float scale = 1.0f;
    Tensor out, lse;     // forward's outputs
    Tensor dout;         // A (N, Hq, D)
    Tensor dq, dk, dv;   // A, overwritten; may be column blocks of dq|dk|dv
    bool deterministic = true;  // dK/dV summed in a fixed order (the CPU always does)
    Tensor workspace;    // U8
};

// Incremental decoding with a KV cache: the Tn new queries sit at positions past..past+Tn-1
// and attend to cache rows 0..past+Tn-1 (the caller wrote the new keys/values there first).
struct AttentionDecodeArgs {
    Tensor q;                 // A (B, Tn, Hq, D)
    Tensor k_cache, v_cache;  // A (B, P, Hkv, D), P >= past + Tn
    std::int64_t past = 0;
    float scale = 1.0f;
    Tensor out;               // A (B, Tn, Hq, D)
};

// gate, up and their gradients may be column blocks of the stacked gate|up (strided rows).
struct SwigluForwardArgs {
    Tensor gate, up;  // A (N, I)
    Tensor out;       // A (N, I) = silu(gate) * up, packed
};
struct SwigluBackwardArgs {
    Tensor gate, up, dout;  // A (N, I); dout packed
    Tensor dgate, dup;      // A (N, I), overwritten
};

struct EmbeddingArgs {
    Tensor tokens;  // (N) I32, each in [0, V) (validated on the host)
    Tensor table;   // (V, C) F32/BF16/F16
    Tensor out;     // A (N, C)
};

// Fused softmax cross-entropy over the vocabulary, in fp32 from the stored logits. Rows whose
// target is kIgnoreIndex give loss 0 and gradient 0. With compute_grad, logits are replaced by
// grad_scale · (softmax(logits) - onehot(target)), rounded to A (grad_scale carries fp16's loss
// scale, so small probabilities do not flush to zero). Targets must be kIgnoreIndex or in [0, V)
// (the model validates each batch on the host; ops never check data).
struct CrossEntropyArgs {
    Tensor logits;   // A (N, V)
    Tensor targets;  // (N) I32
    Tensor losses;   // (N) F32, -log softmax(logits)[target]
    float grad_scale = 1.0f;
    bool compute_grad = false;
    Tensor loss_sum;  // optional F32 (1): += Σ of this call's losses (rows in order), so the
                      // loss of a step stays on the device until the step's one read
};

// Step control (torch.nn.utils.clip_grad_norm_ plus the non-finite check), computed on the
// device from every LoRA gradient at once, so that neither the norm nor the loss has to be
// read back before the update:
//   out[0] = loss_sum[0]
//   out[1] = Σ over all grads of Σ (grad_scale · g)²           (fixed order)
//   out[2] = the update factor: grad_scale · min(1, max_norm / (√out[1] + 1e-6)) in fp32 as
//            torch computes it, or grad_scale when max_norm is 0
//   out[3] = 1 when out[0] and out[1] are finite, else 0 (the update becomes a no-op)
//   out[4] = 0: the AdamW steps that follow set it to 1 when a parameter they write is not
//            finite (an update that overflowed: the step is read back as failed)
struct ClipGradNormArgs {
    std::span<const Tensor> grads;  // F32, any shapes
    Tensor loss_sum;                // F32 (1); empty: counted as 0
    float grad_scale = 1.0f;        // unscales the gradients (1 / loss scale; 1 in bf16/fp32)
    float max_norm = 0.0f;          // 0: no clipping
    Tensor out;                     // F32 (5)
};

// torch.optim.AdamW on one fp32 tensor (decoupled decay first, then the bias-corrected step).
// The gradient is multiplied by grad_scale and, when `control` is given, by control[2]; with
// control[3] == 0 nothing is written (parameters, m and v stay as they were); control[4] is set
// to 1 when a parameter written is NaN or infinite, and left alone otherwise.
struct AdamWArgs {
    Tensor param, grad, m, v;  // F32, same element count
    float lr = 0, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0;
    float grad_scale = 1.0f;  // a host-known factor on the gradient
    Tensor control;           // optional F32 (5), ClipGradNormArgs::out
    std::int64_t step = 1;    // 1-based, after increment
};

// Ordering. A backend may run work asynchronously. Every op and the plain copies run in call
// order on the compute stream; page moves may run on the copy stream. The host sees results
// only through copy_to_host (it waits for the compute stream), synchronize() (waits for
// every stream) or wait_host(event); each of these drains a pipeline on a GPU, so the engine
// keeps them to one or two per optimizer step and Backend counts them (host_syncs()).
// The CPU backend runs everything at once, in call order.
enum class Stream : std::uint8_t { Compute, Copy };
struct Event {
    std::uint64_t id = 0;  // backend-defined; 0 is "already complete"
};

// What a step on a backend needs beyond the model's own tensors: its attention workspace and its
// ops' own scratch. Every Backend is one; a device kind also has one without a device
// (backend_registry.h memory_planner), so an estimate for a GPU this machine lacks plans with
// that GPU backend's ops.
class MemoryPlanner {
public:
    virtual ~MemoryPlanner() = default;
    std::size_t attention_workspace_bytes(const AttentionShape& s) const { return attention_workspace_bytes_impl(s); }
    // The workspace the ops hold for steps of these shapes (step_shapes.h).
    std::int64_t op_scratch_bytes(const StepShapes& s) const { return op_scratch_bytes_impl(s); }

protected:
    virtual std::size_t attention_workspace_bytes_impl(const AttentionShape& s) const = 0;
    virtual std::int64_t op_scratch_bytes_impl(const StepShapes& s) const = 0;
};

class Backend : public MemoryPlanner {
public:
    virtual std::string name() const = 0;
    // The compute dtype "auto" picks here: what the device computes fastest at full range (bf16
    // on GPUs with bf16 tensor cores, fp16 on older ones); the CPU backend, which only emulates
    // 16-bit storage, says fp32.
    virtual DType preferred_compute_dtype() const { return DType::F32; }
    // The bytes the device itself counts as taken now, beyond what the accountant sees: allocator
    // slack, the runtime's context, the driver's share of paged state. A CUDA device says total
    // minus free (cudaMemGetInfo; other processes on the device count too); the CPU backend,
    // whose device is host memory, says this process's resident set. nullopt: it cannot tell.
    virtual std::optional<std::int64_t> device_bytes_in_use() const { return std::nullopt; }
    // Whether host bytes reach the device faster through pinned staging on the copy stream
    // (staged_upload.h) than by copy_from_host: a GPU; not the CPU, whose device is host memory.
    virtual bool stages_host_uploads() const { return false; }

    MemoryAccountant& memory() { return m_memory; }
    const MemoryAccountant& memory() const { return m_memory; }

    // Memory. `what` names the allocation in out-of-memory messages.
    Buffer allocate(std::size_t bytes, Usage usage, const std::string& what);
    // Compute stream; `src` may be reused as soon as the call returns.
    void copy_from_host(const Tensor& dst, std::span<const std::byte> src);
    // Waits for the compute stream, then copies: a host synchronization.
    void copy_to_host(const Tensor& src, std::span<std::byte> dst);
    void copy(const Tensor& dst, const Tensor& src);
    void fill_zero(const Tensor& t);
    // Waits for every stream: a host synchronization.
    void synchronize();

    // Asynchronous copies on `stream` between device memory and host memory the caller keeps
    // alive and unchanged (PagedHost buffers: pinned on CUDA) until an event recorded on that
    // stream after the copy has completed.
    void copy_from_host_async(Stream stream, const Tensor& dst, std::span<const std::byte> src);
    void copy_to_host_async(Stream stream, const Tensor& src, std::span<std::byte> dst);
    // The point `stream` has reached; `waiter`'s later work starts after it (no host wait).
    Event record(Stream stream) { return record_impl(stream); }
    void wait(Stream waiter, Event e) { wait_impl(waiter, e); }
    // Blocks the host until `e` has completed: a host synchronization.
    void wait_host(Event e);
    // Host synchronizations so far (copy_to_host, synchronize, wait_host).
    std::int64_t host_syncs() const { return m_host_syncs; }

    // Ops (see the argument structs above).
    void linear_forward(const LinearForwardArgs& a);
    void linear_backward(const LinearBackwardArgs& a);
    void rmsnorm_forward(const RmsNormForwardArgs& a);
    void rmsnorm_backward(const RmsNormBackwardArgs& a);
    void rope_forward(const RopeArgs& a);
    void rope_backward(const RopeArgs& a);
    // Takes the op scratch op_scratch_bytes says now: after it no op of such a step allocates.
    void reserve_op_scratch(const StepShapes& s) { reserve_op_scratch_impl(s); }
    // Waits for every stream and frees the op scratch: for a backend that outlives its run
    // because the base weights allocated on it are still read by others (shared_base.h).
    void release_op_scratch();
    void attention_forward(const AttentionForwardArgs& a);
    void attention_backward(const AttentionBackwardArgs& a);
    void attention_decode(const AttentionDecodeArgs& a);
    void swiglu_forward(const SwigluForwardArgs& a);
    void swiglu_backward(const SwigluBackwardArgs& a);
    void embedding_forward(const EmbeddingArgs& a);
    void cross_entropy(const CrossEntropyArgs& a);
    void add_inplace(const Tensor& dst, const Tensor& src);  // dst += src, both the same float dtype
    // Rows by index (I32, each in [0, src rows), validated on the host): gather makes
    // dst[i] = src[rows[i]]; scatter zeroes dst and sets dst[rows[i]] = src[i] (distinct rows).
    // The loss only needs the rows that have a target, so the LM head never sees the rest.
    void gather_rows(const Tensor& src, const Tensor& rows, const Tensor& dst);
    void scatter_rows(const Tensor& src, const Tensor& rows, const Tensor& dst);
    void clip_grad_norm(const ClipGradNormArgs& a);
    void adamw_step(const AdamWArgs& a);
    // Dense copy of a base weight (out, in) into F32, BF16 or F16 (rounded once): the layer's
    // weights in the compute dtype for training, fp32 for merged export, inspection, tests.
    void dequantize_weight(const LinearWeight& w, const Tensor& out);
    // bitsandbytes quantize_4bit (formats.md §1.2; §2 when out.nested()) of a dense weight already
    // here, so a base is quantized where it will live: src (out, in) F32/BF16/F16, packed; `out`
    // has type, blocksize and arrays the caller allocated (quant4_arrays.h), all written, offset
    // too; workspace U8, 16-byte aligned, quantize_weight_workspace_bytes or more (empty for 0).
    // Equal to core quantize_4bit byte for byte on the CPU; a GPU takes the absmax mean for its
    // SM count (torch_cuda_mean.h) and, with double quant, reads the offset back (a host sync).
    void quantize_weight(const Tensor& src, const Tensor& workspace, Quant4View& out);

protected:
    friend class Buffer;
    virtual std::byte* allocate_impl(std::size_t bytes, Usage usage) = 0;
    virtual void free_impl(std::byte* p, Usage usage) noexcept = 0;
    virtual void copy_from_host_impl(const Tensor& dst, std::span<const std::byte> src) = 0;
    virtual void copy_to_host_impl(const Tensor& src, std::span<std::byte> dst) = 0;
    virtual void copy_impl(const Tensor& dst, const Tensor& src) = 0;
    virtual void fill_zero_impl(const Tensor& t) = 0;
    virtual void synchronize_impl() = 0;
    virtual void copy_from_host_async_impl(Stream s, const Tensor& dst, std::span<const std::byte> src) = 0;
    virtual void copy_to_host_async_impl(Stream s, const Tensor& src, std::span<std::byte> dst) = 0;
    virtual Event record_impl(Stream s) = 0;
    virtual void wait_impl(Stream waiter, Event e) = 0;
    virtual void wait_host_impl(Event e) = 0;

    virtual void linear_forward_impl(const LinearForwardArgs& a) = 0;
    virtual void linear_backward_impl(const LinearBackwardArgs& a) = 0;
    virtual void rmsnorm_forward_impl(const RmsNormForwardArgs& a) = 0;
    virtual void rmsnorm_backward_impl(const RmsNormBackwardArgs& a) = 0;
    virtual void rope_impl(const RopeArgs& a, bool inverse) = 0;
    virtual void reserve_op_scratch_impl(const StepShapes& s) = 0;
    virtual void release_op_scratch_impl() = 0;
    virtual void attention_forward_impl(const AttentionForwardArgs& a) = 0;
    virtual void attention_backward_impl(const AttentionBackwardArgs& a) = 0;
    virtual void attention_decode_impl(const AttentionDecodeArgs& a) = 0;
    virtual void swiglu_forward_impl(const SwigluForwardArgs& a) = 0;
    virtual void swiglu_backward_impl(const SwigluBackwardArgs& a) = 0;
    virtual void embedding_forward_impl(const EmbeddingArgs& a) = 0;
    virtual void cross_entropy_impl(const CrossEntropyArgs& a) = 0;
    virtual void add_inplace_impl(const Tensor& dst, const Tensor& src) = 0;
    virtual void gather_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) = 0;
    virtual void scatter_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) = 0;
    virtual void clip_grad_norm_impl(const ClipGradNormArgs& a) = 0;
    virtual void adamw_step_impl(const AdamWArgs& a) = 0;
    virtual void dequantize_weight_impl(const LinearWeight& w, const Tensor& out) = 0;
    virtual void quantize_weight_impl(const Tensor& src, const Tensor& workspace, Quant4View& out) = 0;

private:
    MemoryAccountant m_memory;
    std::int64_t m_host_syncs = 0;
};

}  // namespace qls
