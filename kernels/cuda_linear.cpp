// The frozen base linear layer with LoRA on the GPU (formats.md §5; peft lora.Linear over
// bitsandbytes Linear4bit), matching cpu_linear.cpp: the base weight dequantized or converted
// to the compute dtype (as bnb dequantizes to the input's dtype), its GEMM in cuBLAS with fp32
// accumulation into an fp32 sum, the adapters' GEMMs in fp32 added to it, and one rounding of
// the whole sum (backend.h, "Precision"). The order of work is kernels/math/linear_schedule.h.
//
// N rows, in/out features.
#include <climits>

#include "core/backend/tensor.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_ops.h"
#include "kernels/dequantize_4bit.cuh"
#include "kernels/ggml_dequantize.cuh"
#include "kernels/linear_elementwise.cuh"
#include "kernels/math/linear_schedule.h"

namespace qls::cuda {

namespace {

int blas_int(std::int64_t v, const char* what) {
    QLS_ASSERT(v >= 0 && v <= INT_MAX, "linear: GEMM ", what, " ", v, " exceeds cuBLAS's int");
    return static_cast<int>(v);
}

cudaDataType_t blas_type(kmath::Elem e) {
    switch (e) {
        case kmath::Elem::BF16:
            return CUDA_R_16BF;
        case kmath::Elem::F16:
            return CUDA_R_16F;
        case kmath::Elem::F32:
            break;
    }
    return CUDA_R_32F;
}

// The schedule's executor on the device: cuBLAS on the backend's handle (bound to its compute
// stream) and the kernels of linear_elementwise.cu on that stream.
class DeviceLinear {
public:
    explicit DeviceLinear(CudaBackend& be) : m_be(be), m_stream(be.stream()), m_blas(be.blas()) {}

    kmath::LinearBuffers buffers(const kmath::LinearBufferFloats& f) {
        return {slot(Scratch::LinearOut, f.sum), slot(Scratch::LinearIn, f.acc),
                slot(Scratch::LoraInput, f.input), slot(Scratch::LoraMid, f.mid),
                slot(Scratch::LoraMid2, f.mid2)};
    }

    // CUBLAS_COMPUTE_32F under the handle's default math mode: fp32 accumulation, and fp32
    // inputs stay fp32 (no TF32), as on the CPU.
    void gemm(const kmath::RowMajorGemm& g, kmath::Elem ab, float alpha, const void* a, const void* b,
              float beta, float* c) {
        const kmath::ColumnMajorGemm cm = kmath::to_column_major(g);
        if (cm.m == 0 || cm.n == 0) return;
        const cudaDataType_t t = blas_type(ab);
        QLS_CUDA_CHECK(cublasGemmEx(
            m_blas, cm.trans_first ? CUBLAS_OP_T : CUBLAS_OP_N, cm.trans_second ? CUBLAS_OP_T : CUBLAS_OP_N,
            blas_int(cm.m, "m"), blas_int(cm.n, "n"), blas_int(cm.k, "k"), &alpha, b, t,
            blas_int(cm.ld_first, "ld"), a, t, blas_int(cm.ld_second, "ld"), &beta, c, CUDA_R_32F,
            blas_int(cm.ldc, "ldc"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }

    void to_f32_masked(const void* src, kmath::Elem e, std::int64_t count, std::uint64_t index0,
                       std::uint64_t seed, float p, float* dst) {
        linear_to_f32_masked(src, e, count, index0, seed, p, dst, m_stream);
    }
    void dropout_backward(float* acc, const float* dinput, std::int64_t count, std::uint64_t index0,
                          std::uint64_t seed, float p) {
        linear_dropout_backward(acc, dinput, count, index0, seed, p, m_stream);
    }
    void epilogue(const float* sum, std::int64_t rows, std::int64_t cols, const void* bias,
                  kmath::Elem bias_elem, const void* residual, void* out, kmath::Elem e) {
        linear_epilogue(sum, rows, cols, bias, bias_elem, residual, out, e, m_stream);
    }

private:
    float* slot(Scratch s, std::int64_t floats) {
        if (floats == 0) return nullptr;
        return static_cast<float*>(m_be.scratch(s, static_cast<std::size_t>(floats) * sizeof(float)));
    }

    CudaBackend& m_be;
    cudaStream_t m_stream;
    cublasHandle_t m_blas;
};

// The base weight's (out, in) values into dst as `dtype`: each value as the CPU computes it in
// fp32 (cpu::dequantize_4bit, cpu::dequantize_ggml, the dense values), rounded once.
void write_weight(CudaBackend& be, const LinearWeight& w, void* dst, DType dtype) {
    const std::int64_t n = w.in * w.out;
    if (w.ggml) {
        ggml_dequantize({w.ggml->type, w.ggml->blocks.ptr<const std::uint8_t>(), n, dst, dtype}, be.stream());
    } else if (w.quant) {
        const Quant4View& q = *w.quant;
        Dequantize4bitArgs d;
        d.packed = q.packed.ptr<const std::uint8_t>();
        d.n = n;
        d.type = q.type;
        d.blocksize = static_cast<int>(q.blocksize);
        if (q.nested()) {
            d.absmax_codes = q.absmax_codes.ptr<const std::uint8_t>();
            d.nested_absmax = q.nested_absmax.ptr<const float>();
            d.nested_code_map = q.code_map.ptr<const float>();
            d.nested_offset = q.offset;
            d.nested_blocksize = static_cast<int>(q.nested_blocksize);
        } else {
            d.absmax = q.absmax.ptr<const float>();
        }
        d.out = dst;
        d.out_dtype = dtype;
        dequantize_4bit(d, be.stream());
    } else {
        convert(w.dense, Tensor{static_cast<std::byte*>(dst), dtype, {w.out, w.in}}, be.stream());
    }
}

// The base weight in the compute dtype: a dense one of that dtype as it is, any other in the
// backend's weight scratch.
const void* base_weight(CudaBackend& be, const LinearWeight& w, DType act) {
    if (!w.quantized() && w.dense.dtype == act) return w.dense.data;
    void* dst = be.scratch(Scratch::Weight, static_cast<std::size_t>(w.in * w.out) * dtype_size(act));
    write_weight(be, w, dst, act);
    return dst;
}

void fill_common(kmath::LinearOperands& op, const Tensor& x, const LinearWeight& w,
                 std::span<const LoraPart> lora, const Tensor& lora_xa, std::int64_t mask_row0) {
    op.n = x.rows();
    op.in = w.in;
    op.out = w.out;
    op.act = elem_of(x.dtype);
    op.x = x.data;
    op.lora = lora;
    op.lora_xa = lora_xa.empty() ? nullptr : lora_xa.ptr<float>();
    op.mask_row0 = mask_row0;
}

}  // namespace

void linear_forward(CudaBackend& be, const LinearForwardArgs& a) {
    const LinearWeight& w = *a.weight;
    kmath::LinearForwardOperands op;
    fill_common(op, a.x, w, a.lora, a.lora_xa, a.mask_row0);
    if (op.n == 0) return;
    op.weight = base_weight(be, w, a.x.dtype);
    if (!w.bias.empty()) {
        op.bias = w.bias.data;
        op.bias_elem = elem_of(w.bias.dtype);
    }
    op.residual = a.residual.empty() ? nullptr : a.residual.data;
    op.y = a.out.data;
    DeviceLinear ex(be);
    kmath::linear_forward_schedule(ex, op);
}

void linear_backward(CudaBackend& be, const LinearBackwardArgs& a) {
    const LinearWeight& w = *a.weight;
    kmath::LinearBackwardOperands op;
    fill_common(op, a.x, w, a.lora, a.lora_xa, a.mask_row0);
    if (op.n == 0 || (a.dx.empty() && a.lora.empty())) return;
    op.dout = a.dout.data;
    if (!a.dx.empty()) {
        op.weight = base_weight(be, w, a.x.dtype);
        op.dx = a.dx.data;
        op.dx_accumulate = a.dx_mode == GradMode::Accumulate;
    }
    op.xa_ready = a.lora_xa_ready;
    DeviceLinear ex(be);
    kmath::linear_backward_schedule(ex, op);
}

void dequantize_weight(CudaBackend& be, const LinearWeight& w, const Tensor& out) {
    // dequantize_4bit stores 16 bytes at a time; an output view off that alignment goes
    // through the weight scratch.
    if (w.quant && reinterpret_cast<std::uintptr_t>(out.data) % 16 != 0) {
        void* staged = be.scratch(Scratch::Weight, out.bytes());
        write_weight(be, w, staged, out.dtype);
        QLS_CUDA_CHECK(cudaMemcpyAsync(out.data, staged, out.bytes(), cudaMemcpyDeviceToDevice, be.stream()));
        return;
    }
    write_weight(be, w, out.data, out.dtype);
}

}  // namespace qls::cuda
