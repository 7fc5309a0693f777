// 16-bit storage on the CPU (backend.h, "Precision"): an op reads its BF16/F16 tensors as fp32,
// computes exactly as its fp32 kernel does, and rounds each stored result once, to nearest even,
// where a GPU kernel rounds when it writes its output. Fp32Twin hands an fp32 kernel fp32 copies
// of an op's 16-bit tensors and rounds the results back; with every tensor F32 it hands the
// tensors themselves and copies nothing, so the fp32 path is the plain kernel.
#pragma once
#include <initializer_list>
#include <vector>

#include "core/backend/tensor.h"

namespace qls {

class CpuBackend;

namespace cpu {

// Element conversions between a tensor of any float dtype (rows may be strided) and packed fp32.
void load_f32(const Tensor& src, float* dst);
void store_rounded(const float* src, const Tensor& dst);

// The fp32 bytes the copies of these tensors take (0 when all are F32): what one op asks of
// the backend's twin arena, and what the memory estimate plans for.
std::int64_t twin_floats(std::initializer_list<const Tensor*> tensors);

class Fp32Twin {
public:
    // `tensors`: every float tensor the op will read() or write(), so the arena is sized once.
    Fp32Twin(CpuBackend& backend, std::initializer_list<const Tensor*> tensors);
    Fp32Twin(const Fp32Twin&) = delete;
    Fp32Twin& operator=(const Fp32Twin&) = delete;

    // t when F32; otherwise a packed fp32 copy of its values.
    Tensor read(const Tensor& t);
    // t when F32; otherwise packed fp32 scratch that store() rounds into t. `keep`: the scratch
    // starts with t's values (an accumulating or in-place output).
    Tensor write(const Tensor& t, bool keep = false);
    // Rounds every write() result into its tensor. Not called when the kernel throws.
    void store();

private:
    float* take(const Tensor& t);

    float* m_arena = nullptr;
    std::int64_t m_used = 0, m_size = 0;
    std::vector<std::pair<Tensor, Tensor>> m_writes;  // (destination, fp32 scratch)
};

}  // namespace cpu
}  // namespace qls
