// The order of work of the CUDA linear layer (kernels/cuda_linear.cpp), written once over an
// executor so that the CPU test (test_kernel_cores_linear.cpp) runs the very same schedule with
// host GEMMs and the kernels' cores: per chunk of rows, the base GEMM in the compute dtype into
// an fp32 sum, the LoRA GEMMs in fp32 added to it, then one rounding (linear_math.h). The math is
// cpu_linear.cpp's, stacked adapters included; only the GEMMs' summation order differs.
//
// N rows, in/out features, R rows of a chunk, r one adapter's rank, Σr all adapters' ranks.
//
// An executor provides, on device or host pointers alike:
//   LinearBuffers buffers(const LinearBufferFloats& floats);  // fp32 workspace, asked once per call
//   void gemm(const RowMajorGemm& g, Elem ab, float alpha, const void* a, const void* b, float beta,
//             float* c);          // A and B in `ab`, C fp32; beta = 0 does not read C
//   void to_f32_masked(const void* src, Elem e, std::int64_t count, std::uint64_t index0,
//                      std::uint64_t seed, float p, float* dst);  // lora_input_element
//   void dropout_backward(float* acc, const float* dinput, std::int64_t count, std::uint64_t index0,
//                         std::uint64_t seed, float p);            // dropout_backward_element
//   void epilogue(const float* sum, std::int64_t rows, std::int64_t cols, const void* bias, Elem bias_elem,
//                 const void* residual, void* out, Elem e);        // linear_epilogue, stored once
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/backend/backend.h"
#include "kernels/math/linear_math.h"

namespace qls::kmath {

// fp32 workspace of one call, in floats: per row when planning, per chunk when asked for.
struct LinearBufferFloats {
    std::int64_t sum = 0;    // (R, out): forward's sum; backward's dout in fp32
    std::int64_t acc = 0;    // (R, in): backward's dx sum
    std::int64_t input = 0;  // (R, in): LoRA's input in fp32 (dropout applied); dx through dropout
    std::int64_t mid = 0;    // (R, Σr): x·Aᵀ when the caller keeps no lora_xa
    std::int64_t mid2 = 0;   // (R, Σr): backward's dout·B
    std::int64_t total() const { return sum + acc + input + mid + mid2; }
    LinearBufferFloats times(std::int64_t rows) const {
        return {sum * rows, acc * rows, input * rows, mid * rows, mid2 * rows};
    }
};
struct LinearBuffers {
    float *sum = nullptr, *acc = nullptr, *input = nullptr, *mid = nullptr, *mid2 = nullptr;
};

// The fp32 workspace of one call stays under this (64 MiB) unless a single row needs more;
// larger N goes in chunks of rows, each still a GEMM of hundreds of rows at 8B sizes.
inline constexpr std::int64_t kLinearWorkspaceFloats = std::int64_t{16} << 20;

struct LinearOperands {
    std::int64_t n = 0, in = 0, out = 0;
    Elem act = Elem::F32;          // x, out, dout, dx
    const void* x = nullptr;       // (N, in)
    const void* weight = nullptr;  // (out, in) in act; unused by a backward without dx
    std::span<const LoraPart> lora;
    float* lora_xa = nullptr;  // (N, Σr) or null
    std::int64_t mask_row0 = 0;  // x's first row in the activation the dropout masks index
};
struct LinearForwardOperands : LinearOperands {
    const void* bias = nullptr;  // (out) or null
    Elem bias_elem = Elem::F32;
    const void* residual = nullptr;  // (N, out) or null; may be y
    void* y = nullptr;               // (N, out)
};
struct LinearBackwardOperands : LinearOperands {
    const void* dout = nullptr;  // (N, out)
    void* dx = nullptr;          // (N, in) or null
    bool dx_accumulate = false;
    bool xa_ready = false;
};

inline std::int64_t element_bytes(Elem e) {
    return e == Elem::F32 ? 4 : 2;
}

inline const void* element_at(const void* base, std::int64_t index, Elem e) {
    return static_cast<const std::byte*>(base) + index * element_bytes(e);
}
inline void* element_at(void* base, std::int64_t index, Elem e) {
    return static_cast<std::byte*>(base) + index * element_bytes(e);
}

inline std::int64_t total_rank(std::span<const LoraPart> parts) {
    std::int64_t r = 0;
    for (const LoraPart& p : parts) r += p.view.a.dim(0);
    return r;
}

// Adapters without dropout whose A (and dA) lie one after another in memory (LoraParameters
// stacks the modules sharing an input): x·Aᵀ, dA and dx are then one GEMM each over the stacked
// A block, as cpu_linear.cpp's stacked() path.
inline bool lora_parts_stacked(std::span<const LoraPart> parts) {
    if (parts.size() < 2) return false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const LoraView& l = parts[i].view;
        if (l.dropout > 0.0f) return false;
        if (i == 0) continue;
        const LoraView& p = parts[i - 1].view;
        if (l.a.data != p.a.data + p.a.bytes() || l.da.empty() != p.da.empty() ||
            (!l.da.empty() && l.da.data != p.da.data + p.da.bytes()))
            return false;
    }
    return true;
}

// LoRA reads x in fp32: x itself when it is F32 and no dropout applies, else a converted copy.
inline bool lora_needs_input_buffer(Elem act, std::span<const LoraPart> parts) {
    if (act != Elem::F32) return true;
    return std::any_of(parts.begin(), parts.end(), [](const LoraPart& p) { return p.view.dropout > 0.0f; });
}

// One chunk's LoRA input, converted (and masked) once per distinct dropout and reused by the
// adapters that share it.
template <class Exec>
class ChunkLoraInput {
public:
    ChunkLoraInput(Exec& ex, const void* x, Elem act, std::int64_t count, std::uint64_t index0, float* buffer)
        : m_ex(ex), m_x(x), m_act(act), m_count(count), m_index0(index0), m_buffer(buffer) {}

    const float* get(float p, std::uint64_t seed) {
        if (p <= 0.0f) {
            if (m_act == Elem::F32) return static_cast<const float*>(m_x);
            p = 0.0f;
            seed = 0;
        }
        if (!m_valid || m_p != p || m_seed != seed) {
            m_ex.to_f32_masked(m_x, m_act, m_count, m_index0, seed, p, m_buffer);
            m_valid = true;
            m_p = p;
            m_seed = seed;
        }
        return m_buffer;
    }
    std::uint64_t index0() const { return m_index0; }
    // The buffer as scratch (dx through the dropout): its input is gone.
    float* take() {
        m_valid = false;
        return m_buffer;
    }

private:
    Exec& m_ex;
    const void* m_x;
    Elem m_act;
    std::int64_t m_count;
    std::uint64_t m_index0;
    float* m_buffer;
    bool m_valid = false;
    float m_p = 0.0f;
    std::uint64_t m_seed = 0;
};

// A call's per-row workspace from its shape alone, so a planner (cuda_scratch_plan.cpp) knows it
// before any tensor exists. needs_input: LoRA reads x through an fp32 buffer (a 16-bit x, or
// dropout); keeps_xa: the caller keeps x·Aᵀ (lora_xa).
struct CallShape {
    std::int64_t in = 0, out = 0, ranks = 0;
    bool act_f32 = true, needs_input = false, keeps_xa = false, dx = true;
};

inline LinearBufferFloats forward_row_floats(const CallShape& c) {
    LinearBufferFloats f;
    f.sum = c.out;
    if (c.ranks == 0) return f;
    if (c.needs_input) f.input = c.in;
    if (!c.keeps_xa) f.mid = c.ranks;
    return f;
}

inline LinearBufferFloats backward_row_floats(const CallShape& c) {
    LinearBufferFloats f;
    if (c.dx) f.acc = c.in;
    if (c.ranks == 0) return f;
    if (!c.act_f32) f.sum = c.out;
    if (c.needs_input) f.input = c.in;
    if (!c.keeps_xa) f.mid = c.ranks;
    f.mid2 = c.ranks;
    return f;
}

// What one call over n rows asks for: its chunk's rows times the row's floats.
inline LinearBufferFloats call_floats(std::int64_t n, const LinearBufferFloats& per_row,
                                      std::int64_t cap_floats = kLinearWorkspaceFloats) {
    return per_row.times(plan_row_chunks(n, per_row.total(), cap_floats).rows);
}

inline CallShape call_shape(const LinearOperands& op, bool dx) {
    return {op.in, op.out, total_rank(op.lora), op.act == Elem::F32, lora_needs_input_buffer(op.act, op.lora),
            op.lora_xa != nullptr, dx};
}

inline LinearBufferFloats linear_forward_row_floats(const LinearOperands& op) {
    return forward_row_floats(call_shape(op, false));
}

inline LinearBufferFloats linear_backward_row_floats(const LinearBackwardOperands& op) {
    return backward_row_floats(call_shape(op, op.dx != nullptr));
}

// sum(R, out) += Σ_parts scaling · (dropout(x)·Aᵀ)·Bᵀ at the parts' columns; x·Aᵀ lands in
// xa (R, Σr).
template <class Exec>
void linear_forward_lora(Exec& ex, const LinearForwardOperands& op, std::int64_t rows,
                         ChunkLoraInput<Exec>& input, float* xa, float* sum) {
    const std::int64_t ranks = total_rank(op.lora);
    const bool stacked = lora_parts_stacked(op.lora);
    if (stacked)
        ex.gemm({false, true, rows, ranks, op.in, op.in, op.in, ranks}, Elem::F32, 1.0f, input.get(0.0f, 0),
                op.lora.front().view.a.data, 0.0f, xa);
    std::int64_t column = 0;
    for (const LoraPart& part : op.lora) {
        const LoraView& l = part.view;
        const std::int64_t rank = l.a.dim(0), outs = l.b.dim(0);
        if (!stacked)
            ex.gemm({false, true, rows, rank, op.in, op.in, op.in, ranks}, Elem::F32, 1.0f,
                    input.get(l.dropout, l.dropout_seed), l.a.data, 0.0f, xa + column);
        ex.gemm({false, true, rows, outs, rank, ranks, rank, op.out}, Elem::F32, l.scaling, xa + column,
                l.b.data, 1.0f, sum + part.offset);
        column += rank;
    }
}

template <class Exec>
void linear_forward_schedule(Exec& ex, const LinearForwardOperands& op,
                             std::int64_t cap_floats = kLinearWorkspaceFloats) {
    if (op.n == 0) return;
    const LinearBufferFloats per_row = linear_forward_row_floats(op);
    const RowChunks chunks = plan_row_chunks(op.n, per_row.total(), cap_floats);
    const LinearBuffers buf = ex.buffers(per_row.times(chunks.rows));
    const std::int64_t ranks = total_rank(op.lora);
    for (std::int64_t r0 = 0; r0 < op.n; r0 += chunks.rows) {
        const std::int64_t rows = std::min(chunks.rows, op.n - r0);
        const void* x = element_at(op.x, r0 * op.in, op.act);
        ex.gemm({false, true, rows, op.out, op.in, op.in, op.in, op.out}, op.act, 1.0f, x, op.weight, 0.0f,
                buf.sum);
        if (!op.lora.empty()) {
            ChunkLoraInput<Exec> input(ex, x, op.act, rows * op.in, static_cast<std::uint64_t>((op.mask_row0 + r0) * op.in),
                                       buf.input);
            float* xa = op.lora_xa ? op.lora_xa + r0 * ranks : buf.mid;
            linear_forward_lora(ex, op, rows, input, xa, buf.sum);
        }
        const void* residual = op.residual ? element_at(op.residual, r0 * op.out, op.act) : nullptr;
        ex.epilogue(buf.sum, rows, op.out, op.bias, op.bias_elem, residual,
                    element_at(op.y, r0 * op.out, op.act), op.act);
    }
}

// One chunk's LoRA gradients: dB += scaling·doutᵀ·xa, dA += (scaling·dout·B)ᵀ·dropout(x), and
// into the dx sum (R, in) the same dout·B through A and the mask. dout is fp32 (R, out).
template <class Exec>
void linear_backward_lora(Exec& ex, const LinearBackwardOperands& op, std::int64_t rows,
                          ChunkLoraInput<Exec>& input, const float* dout, float* xa, float* dxa,
                          float* dx_sum) {
    const std::int64_t ranks = total_rank(op.lora), in = op.in, out = op.out;
    const bool stacked = lora_parts_stacked(op.lora);
    const LoraView& first = op.lora.front().view;
    if (stacked && !op.xa_ready && !first.db.empty())
        ex.gemm({false, true, rows, ranks, in, in, in, ranks}, Elem::F32, 1.0f, input.get(0.0f, 0),
                first.a.data, 0.0f, xa);
    std::int64_t column = 0;
    for (const LoraPart& part : op.lora) {
        const LoraView& l = part.view;
        const std::int64_t rank = l.a.dim(0), outs = l.b.dim(0);
        const bool grads = !l.db.empty();
        const float* dpart = dout + part.offset;  // (R, outs), leading dimension out
        if (!stacked && !op.xa_ready && grads)    // not kept from forward: compute it again
            ex.gemm({false, true, rows, rank, in, in, in, ranks}, Elem::F32, 1.0f,
                    input.get(l.dropout, l.dropout_seed), l.a.data, 0.0f, xa + column);
        ex.gemm({false, false, rows, rank, outs, out, rank, ranks}, Elem::F32, l.scaling, dpart, l.b.data,
                0.0f, dxa + column);
        if (grads) {
            ex.gemm({true, false, outs, rank, rows, out, ranks, rank}, Elem::F32, l.scaling, dpart,
                    xa + column, 1.0f, l.db.ptr<float>());
            if (!stacked)
                ex.gemm({true, false, rank, in, rows, ranks, in, in}, Elem::F32, 1.0f, dxa + column,
                        input.get(l.dropout, l.dropout_seed), 1.0f, l.da.ptr<float>());
        }
        if (!stacked && dx_sum) {
            if (l.dropout <= 0.0f) {
                ex.gemm({false, false, rows, in, rank, ranks, in, in}, Elem::F32, 1.0f, dxa + column,
                        l.a.data, 1.0f, dx_sum);
            } else {  // through the dropout: the same mask as forward, regenerated from the seed
                float* dinput = input.take();
                ex.gemm({false, false, rows, in, rank, ranks, in, in}, Elem::F32, 1.0f, dxa + column,
                        l.a.data, 0.0f, dinput);
                ex.dropout_backward(dx_sum, dinput, rows * in, input.index0(), l.dropout_seed, l.dropout);
            }
        }
        column += rank;
    }
    if (!stacked) return;
    if (!first.db.empty())
        ex.gemm({true, false, ranks, in, rows, ranks, in, in}, Elem::F32, 1.0f, dxa, input.get(0.0f, 0), 1.0f,
                first.da.ptr<float>());
    if (dx_sum)
        ex.gemm({false, false, rows, in, ranks, ranks, in, in}, Elem::F32, 1.0f, dxa, first.a.data, 1.0f,
                dx_sum);
}

template <class Exec>
void linear_backward_schedule(Exec& ex, const LinearBackwardOperands& op,
                              std::int64_t cap_floats = kLinearWorkspaceFloats) {
    if (op.n == 0 || (!op.dx && op.lora.empty())) return;
    const LinearBufferFloats per_row = linear_backward_row_floats(op);
    const RowChunks chunks = plan_row_chunks(op.n, per_row.total(), cap_floats);
    const LinearBuffers buf = ex.buffers(per_row.times(chunks.rows));
    const std::int64_t ranks = total_rank(op.lora);
    for (std::int64_t r0 = 0; r0 < op.n; r0 += chunks.rows) {
        const std::int64_t rows = std::min(chunks.rows, op.n - r0);
        const void* dout = element_at(op.dout, r0 * op.out, op.act);
        if (op.dx)
            ex.gemm({false, false, rows, op.in, op.out, op.out, op.in, op.in}, op.act, 1.0f, dout, op.weight,
                    0.0f, buf.acc);
        if (!op.lora.empty()) {
            const float* dout_f = static_cast<const float*>(dout);
            if (op.act != Elem::F32) {  // p = 0: no mask, a plain conversion
                ex.to_f32_masked(dout, op.act, rows * op.out, 0, 0, 0.0f, buf.sum);
                dout_f = buf.sum;
            }
            ChunkLoraInput<Exec> input(ex, element_at(op.x, r0 * op.in, op.act), op.act, rows * op.in,
                                       static_cast<std::uint64_t>((op.mask_row0 + r0) * op.in), buf.input);
            float* xa = op.lora_xa ? op.lora_xa + r0 * ranks : buf.mid;
            linear_backward_lora(ex, op, rows, input, dout_f, xa, buf.mid2, op.dx ? buf.acc : nullptr);
        }
        if (op.dx) {
            void* dx = element_at(op.dx, r0 * op.in, op.act);
            ex.epilogue(buf.acc, rows, op.in, nullptr, Elem::F32, op.dx_accumulate ? dx : nullptr, dx,
                        op.act);
        }
    }
}

// The schedule's workspace for every linear of a step (step_shapes.h), as the CUDA backend
// reserves it: per buffer the most any call asks for, forward or backward, and the bytes of a
// base weight that reaches a linear in another dtype than the compute dtype (converted whole).
struct StepLinearScratch {
    LinearBufferFloats floats;
    std::int64_t weight_bytes = 0;
};

inline CallShape call_shape(const LinearCallShape& l, DType compute) {
    const bool f32 = compute == DType::F32;
    return {l.in, l.out, l.ranks, f32, l.ranks > 0 && (!f32 || l.dropout), l.keeps_xa, l.dx};
}

inline void grow_to(LinearBufferFloats& to, const LinearBufferFloats& f) {
    to.sum = std::max(to.sum, f.sum);
    to.acc = std::max(to.acc, f.acc);
    to.input = std::max(to.input, f.input);
    to.mid = std::max(to.mid, f.mid);
    to.mid2 = std::max(to.mid2, f.mid2);
}

inline StepLinearScratch step_linear_scratch(const StepShapes& s, std::int64_t cap_floats = kLinearWorkspaceFloats) {
    StepLinearScratch out;
    for (const LinearCallShape& l : s.linears) {
        const CallShape c = call_shape(l, s.compute);
        grow_to(out.floats, call_floats(l.rows, forward_row_floats(c), cap_floats));
        grow_to(out.floats, call_floats(l.rows, backward_row_floats(c), cap_floats));
        if (l.weight != s.compute)
            out.weight_bytes = std::max(out.weight_bytes, l.in * l.out * static_cast<std::int64_t>(dtype_size(s.compute)));
    }
    return out;
}

}  // namespace qls::kmath
