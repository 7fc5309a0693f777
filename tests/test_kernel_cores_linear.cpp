// The CUDA linear layer (kernels/cuda_linear.cpp) on the host: its schedule
// (kernels/math/linear_schedule.h) runs here with the element cores of its kernels
// (kernels/math/linear_math.h) and a column-major GEMM that does what cublasGemmEx is asked
// (operands in the compute dtype, fp32 accumulation, beta = 0 never reads C), fed through the
// same row-major -> column-major mapping. It must equal qls::CpuBackend (cpu_linear.cpp) on odd
// shapes, in chunks of rows, with dropout, stacked q|k|v adapters, a residual that is the output,
// accumulating dx, and BF16/F16 activations over dense and 4-bit bases.
//
// Tolerances. Both sides sum the same products in fp32 in different orders; each sum is then
// within γ·Σ|terms| of the exact value (γ = n·2^-24, n the longest chain of additions and
// products behind an element, bounded here by N + in + out + Σr + 4), so the two differ by at
// most 2γ·M, where M is the same computation on the absolute values of every input (the CPU
// backend run on them). A 16-bit store adds one rounding on each side: values within δ round
// at most one unit in the last place apart (2^-7·|v| for BF16, 2^-10·|v| for F16). A 4-bit or
// F32 base used with 16-bit activations is rounded to the compute dtype first, as bitsandbytes
// dequantizes to the input's dtype: one relative rounding (2^-8 BF16, 2^-11 F16) of each base
// product, so at most that times M more.
//
// N rows, in/out features, r ranks.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <random>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_ops.h"
#include "core/quant/quantize_4bit.h"
#include "kernels/math/linear_schedule.h"

using namespace qls;
namespace km = qls::kmath;

namespace {

km::Elem elem(DType t) {
    return t == DType::BF16 ? km::Elem::BF16 : t == DType::F16 ? km::Elem::F16 : km::Elem::F32;
}

// C = alpha·op(first)·op(second) + beta·C, column-major, as cublasGemmEx computes it.
void column_major_gemm(const km::ColumnMajorGemm& g, km::Elem t, float alpha, const void* first,
                       const void* second, float beta, float* c) {
    for (std::int64_t j = 0; j < g.n; ++j)
        for (std::int64_t i = 0; i < g.m; ++i) {
            float s = 0.0f;
            for (std::int64_t p = 0; p < g.k; ++p) {
                const float f = km::load(first, t, g.trans_first ? p + i * g.ld_first : i + p * g.ld_first);
                const float v =
                    km::load(second, t, g.trans_second ? j + p * g.ld_second : p + j * g.ld_second);
                s += f * v;
            }
            float& out = c[i + j * g.ldc];
            out = beta == 0.0f ? alpha * s : alpha * s + beta * out;
        }
}

// The schedule's executor on the host: the GEMM above behind the kernels' argument mapping,
// the kernels' loops over linear_math.h's cores. Workspace starts as NaN, so a read before a
// write shows.
class HostLinear {
public:
    km::LinearBuffers buffers(const km::LinearBufferFloats& f) {
        km::grow_to(asked, f);
        return {take(m_sum, f.sum), take(m_acc, f.acc), take(m_input, f.input), take(m_mid, f.mid),
                take(m_mid2, f.mid2)};
    }
    void gemm(const km::RowMajorGemm& g, km::Elem ab, float alpha, const void* a, const void* b, float beta,
              float* c) {
        const km::ColumnMajorGemm cm = km::to_column_major(g);
        // What cublasGemmEx rejects with CUBLAS_STATUS_INVALID_VALUE.
        const auto at_least = [](std::int64_t ld, std::int64_t rows) {
            return ld >= std::max<std::int64_t>(1, rows);
        };
        if (!at_least(cm.ld_first, cm.trans_first ? cm.k : cm.m) ||
            !at_least(cm.ld_second, cm.trans_second ? cm.n : cm.k) || !at_least(cm.ldc, cm.m))
            ++bad_leading_dimensions;
        column_major_gemm(cm, ab, alpha, b, a, beta, c);
    }
    void to_f32_masked(const void* src, km::Elem e, std::int64_t count, std::uint64_t index0,
                       std::uint64_t seed, float p, float* dst) {
        for (std::int64_t i = 0; i < count; ++i)
            dst[i] =
                km::lora_input_element(km::load(src, e, i), seed, index0 + static_cast<std::uint64_t>(i), p);
    }
    void dropout_backward(float* acc, const float* dinput, std::int64_t count, std::uint64_t index0,
                          std::uint64_t seed, float p) {
        for (std::int64_t i = 0; i < count; ++i)
            acc[i] = km::dropout_backward_element(acc[i], dinput[i], seed,
                                                  index0 + static_cast<std::uint64_t>(i), p);
    }
    void epilogue(const float* sum, std::int64_t rows, std::int64_t cols, const void* bias,
                  km::Elem bias_elem, const void* residual, void* out, km::Elem e) {
        ++epilogues;
        for (std::int64_t i = 0; i < rows * cols; ++i) {
            const float b = bias ? km::load(bias, bias_elem, i % cols) : 0.0f;
            const float r = residual ? km::load(residual, e, i) : 0.0f;
            km::store(out, e, i, km::linear_epilogue(sum[i], bias != nullptr, b, residual != nullptr, r));
        }
    }

    int epilogues = 0;
    int bad_leading_dimensions = 0;
    km::LinearBufferFloats asked;  // the most of each buffer any call asked for

private:
    static float* take(std::vector<float>& v, std::int64_t n) {
        if (n == 0) return nullptr;
        v.assign(static_cast<std::size_t>(n), std::numeric_limits<float>::quiet_NaN());
        return v.data();
    }
    std::vector<float> m_sum, m_acc, m_input, m_mid, m_mid2;
};

// Host tensors with stable addresses.
class HostMemory {
public:
    Tensor add(DType t, Shape shape, const std::vector<float>& values) {
        std::vector<std::byte>& b =
            m_blocks.emplace_back(static_cast<std::size_t>(numel(shape)) * dtype_size(t));
        const Tensor tensor{b.data(), t, std::move(shape)};
        for (std::size_t i = 0; i < values.size(); ++i)
            km::store(b.data(), elem(t), static_cast<std::int64_t>(i), values[i]);
        return tensor;
    }
    Tensor add_bytes(const std::vector<std::uint8_t>& bytes) {
        std::vector<std::byte>& b = m_blocks.emplace_back(bytes.size());
        std::memcpy(b.data(), bytes.data(), bytes.size());
        return Tensor{b.data(), DType::U8, {static_cast<std::int64_t>(bytes.size())}};
    }

private:
    std::deque<std::vector<std::byte>> m_blocks;
};

std::vector<float> values_of(const Tensor& t) {
    std::vector<float> v(static_cast<std::size_t>(t.numel()));
    for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = km::load(t.data, elem(t.dtype), static_cast<std::int64_t>(i));
    return v;
}

std::vector<float> absolute(std::vector<float> v) {
    for (float& f : v) f = std::fabs(f);
    return v;
}

enum class Base : std::uint8_t { F32, BF16, F16, NF4, NF4_DQ };
enum class Residual : std::uint8_t { None, Separate, IsOut };
enum class Dx : std::uint8_t { None, Overwrite, Accumulate };

struct PartSpec {
    std::int64_t rank, outs, offset;
    float dropout;
};

struct LinearCase {
    const char* name;
    DType act;
    Base base;
    std::int64_t n, in, out;
    bool bias;
    Residual residual;
    std::vector<PartSpec> parts;
    bool stacked_memory;  // A (and dA) of all parts in one block, as LoraParameters stacks q|k|v
    bool keep_xa, xa_ready, grads;
    Dx dx;
    std::int64_t cap_floats;  // the schedule's workspace cap: small ones force chunks of rows
    int min_chunks;
    std::int64_t mask_row0 = 0;  // x as a chunk of a larger activation's rows (dropout mask indices)
};

// The fixed inputs of a case, as drawn (16-bit ones rounded on storing).
struct Inputs {
    std::vector<float> x, w, bias, residual, a, b, da0, db0, dout, dx0;
};

Inputs draw(const LinearCase& c, std::int64_t ranks, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto vec = [&](std::int64_t n, float sd) {
        std::vector<float> v(static_cast<std::size_t>(n));
        for (float& f : v) f = sd * normal(rng);
        return v;
    };
    std::int64_t b_elements = 0;
    for (const PartSpec& p : c.parts) b_elements += p.outs * p.rank;
    return {vec(c.n * c.in, 1.0f),   vec(c.out * c.in, 0.5f), vec(c.out, 0.5f),        vec(c.n * c.out, 1.0f),
            vec(ranks * c.in, 0.3f), vec(b_elements, 0.3f),   vec(ranks * c.in, 0.1f), vec(b_elements, 0.1f),
            vec(c.n * c.out, 1.0f),  vec(c.n * c.in, 1.0f)};
}

std::vector<float> rounded(std::vector<float> v, DType t) {
    for (float& f : v) f = km::rounded(elem(t), f);
    return v;
}

// The drawn inputs as the case stores them (16-bit activations and dense weights rounded).
Inputs stored(Inputs in, const LinearCase& c) {
    const DType wt = c.base == Base::BF16 ? DType::BF16 : c.base == Base::F16 ? DType::F16 : DType::F32;
    for (std::vector<float>* v : {&in.x, &in.residual, &in.dout, &in.dx0}) *v = rounded(*v, c.act);
    for (std::vector<float>* v : {&in.w, &in.bias}) *v = rounded(*v, wt);
    return in;
}

// One run's tensors: x, weight and adapters are read; out, lora_xa, dx, dA, dB are written.
struct Run {
    HostMemory mem;
    LinearWeight w;
    Tensor x, out, residual, dout, dx, lora_xa;
    std::vector<LoraPart> parts;
};

// `abs_run`: every input by its absolute value and all in F32 (the bound M of the header).
void build(Run& r, const LinearCase& c, const Inputs& drawn, bool abs_run) {
    const auto val = [&](const std::vector<float>& v) { return abs_run ? absolute(v) : v; };
    const DType act = abs_run ? DType::F32 : c.act;
    const Inputs in = abs_run ? stored(drawn, c) : drawn;
    r.w.in = c.in;
    r.w.out = c.out;
    r.x = r.mem.add(act, {c.n, c.in}, val(in.x));
    const bool dense = c.base == Base::F32 || c.base == Base::BF16 || c.base == Base::F16;
    const DType wt = c.base == Base::BF16 ? DType::BF16 : c.base == Base::F16 ? DType::F16 : DType::F32;
    if (dense || abs_run) {
        std::vector<float> w = in.w;
        if (!dense) {  // the absolute values of the dequantized weight
            w.resize(static_cast<std::size_t>(c.in * c.out));
            Run quant;
            build(quant, c, drawn, false);
            cpu::dequantize_4bit(*quant.w.quant, c.in * c.out, w.data());
        }
        r.w.dense = r.mem.add(abs_run ? DType::F32 : wt, {c.out, c.in}, val(w));
    } else {
        const TensorView view{DType::F32, {c.out, c.in}, std::as_bytes(std::span(in.w))};
        const Quantized4bit q = quantize_4bit(view, QuantType::NF4, 64, c.base == Base::NF4_DQ);
        Quant4View v;
        v.type = q.type;
        v.blocksize = q.blocksize;
        v.packed = r.mem.add_bytes(q.packed);
        v.quant_map = r.mem.add(DType::F32, {16}, std::vector<float>(q.quant_map.begin(), q.quant_map.end()));
        if (q.nested) {
            v.absmax_codes = r.mem.add_bytes(q.nested->codes);
            v.nested_absmax =
                r.mem.add(DType::F32, {std::int64_t(q.nested->absmax.size())}, q.nested->absmax);
            v.code_map = r.mem.add(DType::F32, {256}, q.nested->code_map);
            v.offset = q.nested->offset;
            v.nested_blocksize = q.nested->blocksize;
        } else {
            v.absmax = r.mem.add(DType::F32, {std::int64_t(q.absmax.size())}, q.absmax);
        }
        r.w.quant = v;
    }
    if (c.bias) r.w.bias = r.mem.add(abs_run ? DType::F32 : wt, {c.out}, val(in.bias));
    r.out = r.mem.add(act, {c.n, c.out}, std::vector<float>(std::size_t(c.n * c.out), std::nanf("")));
    if (c.residual == Residual::Separate) r.residual = r.mem.add(act, {c.n, c.out}, val(in.residual));
    if (c.residual == Residual::IsOut) {
        r.out = r.mem.add(act, {c.n, c.out}, val(in.residual));
        r.residual = r.out;
    }
    r.dout = r.mem.add(act, {c.n, c.out}, val(in.dout));
    if (c.dx == Dx::Overwrite)
        r.dx = r.mem.add(act, {c.n, c.in}, std::vector<float>(in.dx0.size(), std::nanf("")));
    if (c.dx == Dx::Accumulate) r.dx = r.mem.add(act, {c.n, c.in}, val(in.dx0));
    // Adapters: one block of A (and dA) when stacked, else one tensor each.
    const std::int64_t ranks = std::int64_t(in.a.size()) / c.in;
    const Tensor a_all = r.mem.add(DType::F32, {ranks, c.in}, val(in.a));
    const Tensor da_all = r.mem.add(DType::F32, {ranks, c.in}, val(in.da0));
    if (c.keep_xa)
        r.lora_xa =
            r.mem.add(DType::F32, {c.n, ranks}, std::vector<float>(std::size_t(c.n * ranks), std::nanf("")));
    std::int64_t row = 0, b_at = 0;
    for (const PartSpec& p : c.parts) {
        LoraPart part;
        const auto slice = [&](const std::vector<float>& v, std::int64_t at, std::int64_t n) {
            return std::vector<float>(v.begin() + at, v.begin() + at + n);
        };
        const std::int64_t a_at = row * c.in, a_n = p.rank * c.in, b_n = p.outs * p.rank;
        part.view.a = c.stacked_memory ? Tensor{a_all.data + a_at * 4, DType::F32, {p.rank, c.in}}
                                       : r.mem.add(DType::F32, {p.rank, c.in}, slice(val(in.a), a_at, a_n));
        part.view.b = r.mem.add(DType::F32, {p.outs, p.rank}, slice(val(in.b), b_at, b_n));
        if (c.grads) {
            part.view.da = c.stacked_memory
                               ? Tensor{da_all.data + a_at * 4, DType::F32, {p.rank, c.in}}
                               : r.mem.add(DType::F32, {p.rank, c.in}, slice(val(in.da0), a_at, a_n));
            part.view.db = r.mem.add(DType::F32, {p.outs, p.rank}, slice(val(in.db0), b_at, b_n));
        }
        part.view.scaling = 1.75f;
        part.view.dropout = p.dropout;
        part.view.dropout_seed = 0x5eed0000u + static_cast<std::uint64_t>(row);
        part.offset = p.offset;
        r.parts.push_back(part);
        row += p.rank;
        b_at += b_n;
    }
}

void run_cpu(Run& r, const LinearCase& c) {
    CpuBackend cpu;
    cpu.linear_forward({r.x, &r.w, r.parts, r.out, r.residual, r.lora_xa, c.mask_row0});
    cpu.linear_backward({r.x, r.dout, &r.w, r.parts, r.lora_xa, c.xa_ready, r.dx,
                         c.dx == Dx::Accumulate ? GradMode::Accumulate : GradMode::Overwrite, c.mask_row0});
}

// The base weight as cuda_linear.cpp hands it to the schedule: in the compute dtype, each value
// the CPU's fp32 one rounded once (dequantize_4bit / convert with out_dtype = x's dtype).
std::vector<std::byte> base_in(const LinearWeight& w, DType act) {
    std::vector<float> f(static_cast<std::size_t>(w.in * w.out));
    if (w.quant)
        cpu::dequantize_4bit(*w.quant, w.in * w.out, f.data());
    else
        f = values_of(w.dense);
    std::vector<std::byte> out(f.size() * dtype_size(act));
    for (std::size_t i = 0; i < f.size(); ++i) km::store(out.data(), elem(act), std::int64_t(i), f[i]);
    return out;
}

struct ScheduleStats {
    int chunks = 0;                  // of the forward
    int bad_leading_dimensions = 0;  // GEMMs cuBLAS would refuse
    km::LinearBufferFloats asked;    // workspace, forward and backward
};

ScheduleStats run_schedule(Run& r, const LinearCase& c) {
    HostLinear ex;
    const std::vector<std::byte> weight = base_in(r.w, c.act);
    km::LinearForwardOperands f;
    f.n = c.n;
    f.in = c.in;
    f.out = c.out;
    f.act = elem(c.act);
    f.x = r.x.data;
    f.weight = weight.data();
    f.lora = r.parts;
    f.lora_xa = r.lora_xa.empty() ? nullptr : r.lora_xa.ptr<float>();
    if (!r.w.bias.empty()) {
        f.bias = r.w.bias.data;
        f.bias_elem = elem(r.w.bias.dtype);
    }
    f.residual = r.residual.empty() ? nullptr : r.residual.data;
    f.y = r.out.data;
    f.mask_row0 = c.mask_row0;
    km::linear_forward_schedule(ex, f, c.cap_floats);
    const int chunks = ex.epilogues;
    km::LinearBackwardOperands b;
    static_cast<km::LinearOperands&>(b) = f;
    b.dout = r.dout.data;
    b.dx = r.dx.empty() ? nullptr : r.dx.data;
    b.dx_accumulate = c.dx == Dx::Accumulate;
    b.xa_ready = c.xa_ready;
    km::linear_backward_schedule(ex, b, c.cap_floats);
    return {chunks, ex.bad_leading_dimensions, ex.asked};
}

// |got - want| <= 2γ·M (+ the 16-bit roundings of the header), element by element.
void expect_close(const char* what, const LinearCase& c, const Tensor& got_t, const Tensor& want_t,
                  const Tensor& bound_t, bool rounded_output, bool rounded_base) {
    const std::vector<float> got = values_of(got_t), want = values_of(want_t), m = values_of(bound_t);
    std::int64_t ranks = 0;
    for (const PartSpec& p : c.parts) ranks += p.rank;
    const double gamma = double(c.n + c.in + c.out + ranks + 4) * 0x1p-24;
    const double ulp = !rounded_output        ? 0.0
                       : c.act == DType::BF16 ? 0x1p-7
                       : c.act == DType::F16  ? 0x1p-10
                                              : 0.0;
    const double base = !rounded_base          ? 0.0
                        : c.act == DType::BF16 ? 0x1p-8
                        : c.act == DType::F16  ? 0x1p-11
                                               : 0.0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double delta = (2.0 * gamma + base) * m[i];
        const double tol = delta + ulp * (std::fabs(want[i]) + delta) + (ulp > 0 ? 0x1p-24 : 0.0);
        const double err = std::fabs(double(got[i]) - double(want[i]));
        if (!(err <= tol))
            QFAIL(qPrintable(QString("%1 %2 [%3]: got %4, CPU %5, |diff| %6 > %7 (M %8)")
                                 .arg(c.name, what)
                                 .arg(i)
                                 .arg(got[i])
                                 .arg(want[i])
                                 .arg(err)
                                 .arg(tol)
                                 .arg(m[i])));
    }
}

}  // namespace

class TestKernelCoresLinear : public QObject {
    Q_OBJECT
private slots:
    // The mapping onto column-major GEMM, every transposition, padded leading dimensions:
    // small integers make every product and sum exact, so equality is exact.
    void columnMajorMappingEqualsRowMajorGemm() {
        std::mt19937 rng(7);
        std::uniform_int_distribution<int> small(-4, 4);
        for (int t = 0; t < 4; ++t) {
            const bool ta = t & 1, tb = t & 2;
            const std::int64_t m = 5, n = 3, k = 7;
            km::RowMajorGemm g{ta, tb, m, n, k, (ta ? m : k) + 2, (tb ? k : n) + 1, n + 3};
            std::vector<float> a(std::size_t((ta ? k : m) * g.lda)), b(std::size_t((tb ? n : k) * g.ldb));
            std::vector<float> c(std::size_t(m * g.ldc));
            for (float& v : a) v = float(small(rng));
            for (float& v : b) v = float(small(rng));
            for (float& v : c) v = float(small(rng));
            std::vector<float> want = c;
            for (std::int64_t i = 0; i < m; ++i)
                for (std::int64_t j = 0; j < n; ++j) {
                    float s = 0;
                    for (std::int64_t p = 0; p < k; ++p)
                        s += (ta ? a[p * g.lda + i] : a[i * g.lda + p]) *
                             (tb ? b[j * g.ldb + p] : b[p * g.ldb + j]);
                    want[i * g.ldc + j] = 2.0f * s + 3.0f * c[i * g.ldc + j];
                }
            HostLinear ex;
            ex.gemm(g, km::Elem::F32, 2.0f, a.data(), b.data(), 3.0f, c.data());
            QCOMPARE(c, want);
        }
    }

    void rowChunkPlan() {
        QCOMPARE(km::plan_row_chunks(0, 10, 100).count, std::int64_t{0});
        const km::RowChunks whole = km::plan_row_chunks(37, 10, 1000);
        QCOMPARE(whole.rows, std::int64_t{37});
        QCOMPARE(whole.count, std::int64_t{1});
        const km::RowChunks split = km::plan_row_chunks(37, 10, 70);  // 7 rows: 5 chunks of 7, one of 2
        QCOMPARE(split.rows, std::int64_t{7});
        QCOMPARE(split.count, std::int64_t{6});
        const km::RowChunks exact = km::plan_row_chunks(35, 10, 70);
        QCOMPARE(exact.count, std::int64_t{5});
        const km::RowChunks wide = km::plan_row_chunks(3, 1000, 70);  // a row over the cap: one at a time
        QCOMPARE(wide.rows, std::int64_t{1});
        QCOMPARE(wide.count, std::int64_t{3});
        QCOMPARE(km::plan_row_chunks(4, 0, 70).count, std::int64_t{1});  // no workspace: all at once
        // The real cap: a 4096-token MLP projection 14336 wide from 4096 inputs (the fp32 sum and
        // LoRA's input per row) goes in 5 chunks of 910 rows.
        const km::RowChunks mlp = km::plan_row_chunks(4096, 14336 + 4096, km::kLinearWorkspaceFloats);
        QVERIFY(mlp.rows * (14336 + 4096) <= km::kLinearWorkspaceFloats);
        QCOMPARE(mlp.rows, std::int64_t{910});
        QCOMPARE(mlp.count, std::int64_t{5});
    }

    // The sum is rounded once: 1 + 2^-8 is a BF16 tie that rounds down to 1 alone, but with a
    // residual of 2^-20 the exact sum lies above it and rounds up.
    void epilogueRoundsOnce() {
        std::uint16_t out = 0;
        km::store(&out, km::Elem::BF16, 0, km::linear_epilogue(1.0f + 0x1p-8f, false, 0.0f, true, 0x1p-20f));
        QCOMPARE(km::bf16_to_float(out), 1.0f + 0x1p-7f);
        km::store(&out, km::Elem::BF16, 0, km::linear_epilogue(1.0f, true, 0x1p-8f, false, 5.0f));
        QCOMPARE(km::bf16_to_float(out), 1.0f);
    }

    void scheduleEqualsCpuBackend_data() {
        QTest::addColumn<int>("index");
        for (int i = 0; i < int(cases().size()); ++i) QTest::newRow(cases()[std::size_t(i)].name) << i;
    }
    void scheduleEqualsCpuBackend() {
        QFETCH(int, index);
        const LinearCase& c = cases()[std::size_t(index)];
        std::int64_t ranks = 0;
        for (const PartSpec& p : c.parts) ranks += p.rank;
        std::mt19937 rng(1000u + unsigned(index));
        const Inputs in = draw(c, ranks, rng);
        Run cpu, gpu, bound;
        build(cpu, c, in, false);
        build(gpu, c, in, false);
        build(bound, c, in, true);
        run_cpu(cpu, c);
        run_cpu(bound, c);
        const ScheduleStats stats = run_schedule(gpu, c);
        QVERIFY2(stats.chunks >= c.min_chunks, qPrintable(QString("%1 chunks").arg(stats.chunks)));
        QCOMPARE(stats.bad_leading_dimensions, 0);
        // The CUDA backend reserves its workspace from the step's shapes alone (the model's
        // StepShapes, cuda_scratch_plan.cpp): exactly what this call asked for.
        StepShapes step;
        step.compute = c.act;
        bool dropout = false;
        for (const PartSpec& p : c.parts) dropout = dropout || p.dropout > 0.0f;
        step.linears.push_back({c.n, c.in, c.out, ranks, dropout, c.keep_xa, c.dx != Dx::None, c.act, true});
        const km::StepLinearScratch planned = km::step_linear_scratch(step, c.cap_floats);
        QCOMPARE(planned.floats.sum, stats.asked.sum);
        QCOMPARE(planned.floats.acc, stats.asked.acc);
        QCOMPARE(planned.floats.input, stats.asked.input);
        QCOMPARE(planned.floats.mid, stats.asked.mid);
        QCOMPARE(planned.floats.mid2, stats.asked.mid2);
        QCOMPARE(planned.weight_bytes, std::int64_t(0));  // the base reaches it in the compute dtype
        const bool base16 =
            c.act != DType::F32 && (c.base == Base::F32 || c.base == Base::NF4 || c.base == Base::NF4_DQ);
        expect_close("out", c, gpu.out, cpu.out, bound.out, true, base16);
        if (c.keep_xa) expect_close("lora_xa", c, gpu.lora_xa, cpu.lora_xa, bound.lora_xa, false, false);
        if (c.dx != Dx::None) expect_close("dx", c, gpu.dx, cpu.dx, bound.dx, true, base16);
        if (c.grads)
            for (std::size_t p = 0; p < c.parts.size(); ++p) {
                expect_close("da", c, gpu.parts[p].view.da, cpu.parts[p].view.da, bound.parts[p].view.da,
                             false, false);
                expect_close("db", c, gpu.parts[p].view.db, cpu.parts[p].view.db, bound.parts[p].view.db,
                             false, false);
            }
    }

private:
    static const std::vector<LinearCase>& cases() {
        using enum Base;
        static const std::vector<LinearCase> all = {
            {"f32 dropout chunked",
             DType::F32,
             F32,
             37,
             45,
             53,
             true,
             Residual::Separate,
             {{5, 53, 0, 0.3f}},
             false,
             false,
             false,
             true,
             Dx::Overwrite,
             7 * (53 + 45 + 5),
             6},
            {"bf16 stacked qkv residual=out dx-acc",
             DType::BF16,
             BF16,
             29,
             33,
             40,
             true,
             Residual::IsOut,
             {{4, 24, 0, 0.0f}, {3, 8, 24, 0.0f}, {4, 8, 32, 0.0f}},
             true,
             true,
             true,
             true,
             Dx::Accumulate,
             5 * (40 + 33),
             6},
            {"f16 stacked qkv no lora_xa",
             DType::F16,
             F16,
             19,
             24,
             40,
             false,
             Residual::None,
             {{4, 24, 0, 0.0f}, {3, 8, 24, 0.0f}, {4, 8, 32, 0.0f}},
             true,
             false,
             false,
             true,
             Dx::Overwrite,
             4 * (40 + 24 + 11),
             5},
            {"f16 nf4 bias no lora",
             DType::F16,
             NF4,
             13,
             64,
             24,
             true,
             Residual::None,
             {},
             false,
             false,
             false,
             false,
             Dx::Overwrite,
             1 << 20,
             1},
            {"bf16 nf4-dq two dropouts dx-acc, rows from 1000",
             DType::BF16,
             NF4_DQ,
             23,
             32,
             30,
             false,
             Residual::Separate,
             {{3, 20, 0, 0.25f}, {2, 10, 20, 0.1f}},
             false,
             true,
             false,
             true,
             Dx::Accumulate,
             3 * (30 + 32),
             8,
             1000},
            {"f32 nf4 mixed dropout no dx",
             DType::F32,
             NF4,
             17,
             64,
             18,
             true,
             Residual::None,
             {{2, 10, 0, 0.0f}, {3, 8, 10, 0.5f}},
             false,
             true,
             true,
             true,
             Dx::None,
             4 * (18 + 64),
             5},
            {"f32 bf16-base no lora grads",
             DType::F32,
             BF16,
             11,
             7,
             9,
             true,
             Residual::IsOut,
             {{2, 9, 0, 0.2f}},
             false,
             false,
             false,
             false,
             Dx::Overwrite,
             1 << 20,
             1},
            {"bf16 f32-base one row",
             DType::BF16,
             F32,
             1,
             3,
             5,
             true,
             Residual::None,
             {{1, 5, 0, 0.0f}},
             false,
             true,
             false,
             true,
             Dx::Overwrite,
             1,
             1},
        };
        return all;
    }
};

QTEST_GUILESS_MAIN(TestKernelCoresLinear)
#include "test_kernel_cores_linear.moc"
