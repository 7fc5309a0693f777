// The CPU backend's op implementations, one file each (cpu_<op>.cpp), as free functions so the
// backend class only dispatches.
#pragma once
#include "core/backend/backend.h"

namespace qls::cpu {

// Row-major fp32 GEMM C = alpha·op(A)·op(B) + beta·C (OpenBLAS).
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc);

// Any float dtype -> fp32 (dense weights, norm weights, embedding rows).
void to_f32(const Tensor& src, float* dst, std::int64_t first, std::int64_t count);
void dequantize_4bit(const Quant4View& q, std::int64_t numel, float* out);
void dequantize_ggml(const GgmlBlocksView& g, std::int64_t out_rows, std::int64_t in, float* out);

void rmsnorm_forward(const RmsNormForwardArgs& a);
void rmsnorm_backward(const RmsNormBackwardArgs& a);
void rope(const RopeArgs& a, bool inverse);
std::size_t attention_workspace_bytes(const AttentionShape& s);
void attention_forward(const AttentionForwardArgs& a);
void attention_backward(const AttentionBackwardArgs& a);
void attention_decode(const AttentionDecodeArgs& a);
void swiglu_forward(const SwigluForwardArgs& a);
void swiglu_backward(const SwigluBackwardArgs& a);
void embedding_forward(const EmbeddingArgs& a);
void cross_entropy(const CrossEntropyArgs& a);
void clip_grad_norm(const ClipGradNormArgs& a);
void adamw_step(const AdamWArgs& a);

}  // namespace qls::cpu
