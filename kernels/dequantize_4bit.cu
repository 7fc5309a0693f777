// 4-bit blockwise dequantization matching bitsandbytes' kDequantizeBlockwise (csrc/kernels.cu,
// built with --use_fast_math) bit for bit: formats.md §1.3, out = lut[code] * absmax as a
// flush-to-zero fp32 multiply, rounded to the output dtype to nearest even. A nested absmax is
// rebuilt per block as formats.md §2 step 6 says: code_map[q] * nested_absmax (bnb's fast-math
// dequantize_blockwise), then + offset (torch's IEEE add).
//
// Memory-bound: 0.5 byte in, 2 or 4 bytes out per element. A "unit" is the packed input of
// one 16-byte output vector (8 codes for bf16/fp16, 4 for fp32). Each thread takes kUnits
// units spaced a CTA apart, so that every load and store instruction of a warp covers one
// contiguous span, and issues all its loads before the first use.
#include "kernels/dequantize_4bit.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/quant/quant_tables.h"
#include "core/quant/quantize_4bit.h"
#include "core/util/error.h"
#include "kernels/bnb_math.cuh"
#include "kernels/cuda_check.h"
#include "kernels/quantized_4bit_device.h"

namespace qls::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kUnits = 4;

struct CodeValues {
    float v[16];  // bnb's kernel table: FP4 codes 8..15 are -lut[code & 7], so code 8 is -0.0
};

struct AbsmaxSource {
    const float* absmax;  // fp32 absmax, or nullptr when nested:
    const std::uint8_t* codes;
    const float* nested_absmax;
    const float* code_map;
    float offset;
    int nested_shift;  // log2 of the nested blocksize
};

template <bool kNested>
__device__ __forceinline__ float block_absmax(const AbsmaxSource& s, std::int64_t b) {
    if constexpr (!kNested) {
        return __ldg(s.absmax + b);
    } else {
        const float q = __ldg(s.code_map + __ldg(s.codes + b));
        return __fadd_rn(bnb_mul(q, __ldg(s.nested_absmax + (b >> s.nested_shift))), s.offset);
    }
}

template <typename T>
struct Unit {
    static constexpr int kElems = 16 / sizeof(T);
    static constexpr int kBytes = kElems / 2;
    using Word = std::conditional_t<kBytes == 4, std::uint32_t, std::uint16_t>;
};

__device__ __forceinline__ void store_16(float* out, const float (&v)[4]) {
    *reinterpret_cast<float4*>(out) = make_float4(v[0], v[1], v[2], v[3]);
}

// Two outputs, a at the lower address; one cvt for both (the 2-vector types are not trivially
// copyable, hence memcpy rather than bit_cast).
template <typename T>
__device__ __forceinline__ std::uint32_t pack_2(float a, float b) {
    std::uint32_t r;
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        const __nv_bfloat162 p = __floats2bfloat162_rn(a, b);
        memcpy(&r, &p, sizeof r);
    } else {
        const __half2 p = __floats2half2_rn(a, b);
        memcpy(&r, &p, sizeof r);
    }
    return r;
}

template <typename T>
__device__ __forceinline__ void store_16(T* out, const float (&v)[8]) {
    *reinterpret_cast<uint4*>(out) = make_uint4(pack_2<T>(v[0], v[1]), pack_2<T>(v[2], v[3]),
                                                pack_2<T>(v[4], v[5]), pack_2<T>(v[6], v[7]));
}

__device__ __forceinline__ void store_1(float* out, float v) {
    *out = v;
}
__device__ __forceinline__ void store_1(__nv_bfloat16* out, float v) {
    *out = __float2bfloat16_rn(v);
}
__device__ __forceinline__ void store_1(__half* out, float v) {
    *out = __float2half_rn(v);
}

// The last, partial unit: one element at a time.
template <typename T>
__device__ void dequantize_tail(const std::uint8_t* packed, std::int64_t first, std::int64_t n,
                                const float* lut, float scale, T* out) {
    for (std::int64_t i = first; i < n; ++i) {
        const std::uint32_t byte = packed[i / 2];
        store_1(out + i, bnb_mul(lut[i % 2 ? byte & 15u : byte >> 4], scale));
    }
}

template <typename T, bool kNested>
__global__ void __launch_bounds__(kThreads)
    dequantize_4bit_kernel(const std::uint8_t* __restrict__ packed, std::int64_t n, int block_shift,
                           const AbsmaxSource src, T* __restrict__ out, const CodeValues values) {
    using U = Unit<T>;
    using Word = typename U::Word;
    __shared__ float lut[16];  // 16 words in 16 banks: any lookup pattern is conflict-free
    if (threadIdx.x == 0) {
#pragma unroll
        for (int k = 0; k < 16; ++k) lut[k] = values.v[k];  // constant index: no local copy
    }
    __syncthreads();

    const std::int64_t units = (n + U::kElems - 1) / U::kElems;
    const std::int64_t tile = std::int64_t(kThreads) * kUnits;
    for (std::int64_t base = std::int64_t(blockIdx.x) * tile; base < units;
         base += std::int64_t(gridDim.x) * tile) {
        Word word[kUnits];
        float scale[kUnits];
#pragma unroll
        for (int k = 0; k < kUnits; ++k) {
            const std::int64_t u = base + k * kThreads + threadIdx.x;
            const bool full = (u + 1) * U::kElems <= n;
            word[k] = full ? __ldg(reinterpret_cast<const Word*>(packed) + u) : Word(0);
            scale[k] = u < units ? block_absmax<kNested>(src, (u * U::kElems) >> block_shift) : 0.0f;
        }
#pragma unroll
        for (int k = 0; k < kUnits; ++k) {
            const std::int64_t u = base + k * kThreads + threadIdx.x;
            const std::int64_t first = u * U::kElems;
            if (first + U::kElems <= n) {
                float v[U::kElems];
#pragma unroll
                for (int b = 0; b < U::kBytes; ++b) {
                    const std::uint32_t byte = (std::uint32_t(word[k]) >> (8 * b)) & 0xffu;
                    v[2 * b] = bnb_mul(lut[byte >> 4], scale[k]);
                    v[2 * b + 1] = bnb_mul(lut[byte & 15u], scale[k]);
                }
                store_16(out + first, v);
            } else if (first < n) {
                dequantize_tail(packed, first, n, lut, scale[k], out);
            }
        }
    }
}

template <typename T, bool kNested>
void dequantize_4bit_launch(const Dequantize4bitArgs& a, const AbsmaxSource& src, const CodeValues& values,
                            cudaStream_t stream) {
    const auto kernel = dequantize_4bit_kernel<T, kNested>;
    int device = 0, sms = 0, per_sm = 0;
    QLS_CUDA_CHECK(cudaGetDevice(&device));
    QLS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    QLS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0));
    const std::int64_t units = (a.n + Unit<T>::kElems - 1) / Unit<T>::kElems;
    const std::int64_t tiles = (units + kThreads * kUnits - 1) / (kThreads * kUnits);
    const int grid = int(std::min<std::int64_t>(tiles, std::int64_t(sms) * per_sm));
    const int block_shift = std::countr_zero(unsigned(a.blocksize));
    kernel<<<grid, kThreads, 0, stream>>>(a.packed, a.n, block_shift, src, static_cast<T*>(a.out), values);
    QLS_CUDA_CHECK(cudaGetLastError());
}

template <typename T>
void dequantize_4bit_dispatch(const Dequantize4bitArgs& a, const AbsmaxSource& src, const CodeValues& values,
                              cudaStream_t stream) {
    if (src.absmax != nullptr)
        dequantize_4bit_launch<T, false>(a, src, values, stream);
    else
        dequantize_4bit_launch<T, true>(a, src, values, stream);
}

CodeValues code_values(QuantType type) {
    CodeValues c{};
    const std::array<float, 16>& table = quant_values(type);
    for (int k = 0; k < 16; ++k)
        c.v[k] = type == QuantType::FP4 && k >= 8 ? -table[std::size_t(k - 8)] : table[std::size_t(k)];
    return c;
}

}  // namespace

void dequantize_4bit(const Dequantize4bitArgs& a, cudaStream_t stream) {
    check_quant_blocksize(a.blocksize);
    QLS_ASSERT(a.n > 0, "dequantize_4bit: empty tensor");
    QLS_ASSERT(reinterpret_cast<std::uintptr_t>(a.packed) % 16 == 0 &&
                   reinterpret_cast<std::uintptr_t>(a.out) % 16 == 0,
               "dequantize_4bit: packed and out must be 16-byte aligned");
    const bool nested = a.absmax == nullptr;
    QLS_ASSERT(!nested || (a.absmax_codes && a.nested_absmax && a.nested_code_map),
               "dequantize_4bit: neither an fp32 nor a nested absmax");
    QLS_CHECK(DataError,
              !nested || (a.nested_blocksize > 0 && std::has_single_bit(unsigned(a.nested_blocksize))),
              "4-bit dequantization: nested blocksize must be a power of two, got ", a.nested_blocksize);
    const AbsmaxSource src{a.absmax,        a.absmax_codes,
                           a.nested_absmax, a.nested_code_map,
                           a.nested_offset, std::countr_zero(unsigned(a.nested_blocksize))};
    const CodeValues values = code_values(a.type);
    switch (a.out_dtype) {
        case DType::F32:
            return dequantize_4bit_dispatch<float>(a, src, values, stream);
        case DType::BF16:
            return dequantize_4bit_dispatch<__nv_bfloat16>(a, src, values, stream);
        case DType::F16:
            return dequantize_4bit_dispatch<__half>(a, src, values, stream);
        default:
            QLS_CHECK(ConfigError, false, "4-bit dequantization yields F32, BF16 or F16, not ",
                      dtype_name(a.out_dtype));
    }
}

std::vector<std::byte> dequantize_4bit_cuda(const Quantized4bit& q, DType out_dtype) {
    const Quantized4bitDevice d = Quantized4bitDevice::upload(q);
    DeviceBuffer out(std::size_t(d.n) * dtype_size(out_dtype));
    dequantize_4bit(d.dequantize_args(out.data(), out_dtype), nullptr);
    return to_host<std::byte>(out);
}

}  // namespace qls::cuda
