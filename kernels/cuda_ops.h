// The CUDA backend's ops, one file pair each (kernels/<op>.cu with its arithmetic core in
// kernels/math/<op>_math.h, shared with the CPU tests): free functions the backend class only
// dispatches to, as core/backend/cpu/cpu_ops.h does for the CPU. Arguments arrive checked by
// Backend (shapes, dtypes); tensors hold device memory. Every launch is checked with
// check_launch(op, shapes) and every library call with QLS_CUDA_CHECK.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "core/backend/backend.h"
#include "kernels/math/float_store.h"

namespace qls::cuda {

class CudaBackend;

// F32/BF16/F16 -> the element type the math headers use.
kmath::Elem elem_of(DType t);

// After a kernel launch: throws qls::Error naming the op, its shapes and the device when the
// launch failed (bad configuration, or a sticky error of an earlier kernel).
void check_launch(const char* op, const std::string& shapes);

// cuda_linear.cpp: base GEMM with cuBLAS in the compute dtype (fp32 accumulation), LoRA in
// fp32, one rounding of the whole sum; dequantize_weight for the model's layer workspace.
void linear_forward(CudaBackend& be, const LinearForwardArgs& a);
void linear_backward(CudaBackend& be, const LinearBackwardArgs& a);
void dequantize_weight(CudaBackend& be, const LinearWeight& w, const Tensor& out);
// quantize_weight.cpp: Backend::quantize_weight through the bit-exact kernels of quantize_4bit.cu
void quantize_weight(CudaBackend& be, const Tensor& src, const Tensor& workspace, Quant4View& out);

// rmsnorm.cu
void rmsnorm_forward(const RmsNormForwardArgs& a, cudaStream_t s);
void rmsnorm_backward(const RmsNormBackwardArgs& a, cudaStream_t s);
// rope.cu
void rope(const RopeArgs& a, bool inverse, cudaStream_t s);
// swiglu.cu
void swiglu_forward(const SwigluForwardArgs& a, cudaStream_t s);
void swiglu_backward(const SwigluBackwardArgs& a, cudaStream_t s);
// rows.cu: embedding gather, gather/scatter of rows, add
void embedding_forward(const EmbeddingArgs& a, cudaStream_t s);
void gather_rows(const Tensor& src, const Tensor& rows, const Tensor& dst, cudaStream_t s);
void scatter_rows(const Tensor& src, const Tensor& rows, const Tensor& dst, cudaStream_t s);
void add_inplace(const Tensor& dst, const Tensor& src, cudaStream_t s);
// convert.cu: element-for-element dtype conversion (F32/BF16/F16 -> F32/BF16/F16, rounded once); src and
// dst packed, same element count.
void convert(const Tensor& src, const Tensor& dst, cudaStream_t s);
// cross_entropy.cu
void cross_entropy(const CrossEntropyArgs& a, cudaStream_t s);
// optimizer.cu: the step control from every gradient, and AdamW
void clip_grad_norm(CudaBackend& be, const ClipGradNormArgs& a);
void adamw_step(const AdamWArgs& a, cudaStream_t s);
// attention.cu
std::size_t attention_workspace_bytes(const AttentionShape& s);
void attention_forward(const AttentionForwardArgs& a, cudaStream_t s);
void attention_backward(const AttentionBackwardArgs& a, cudaStream_t s);
void attention_decode(const AttentionDecodeArgs& a, cudaStream_t s);

}  // namespace qls::cuda
