// 4-bit blockwise quantization matching bitsandbytes' kQuantizeBlockwise (csrc/kernels.cu,
// built with --use_fast_math) bit for bit: formats.md §1.2 for NF4/FP4, §2 for the double
// quantization of the absmax (kQuantizeBlockwise<float, 256, General8bit> + dQuantize<0>).
// Each thread takes 8 consecutive elements (one 16-byte load for 16-bit inputs, two for fp32)
// and writes 4 packed bytes; the blocksize / 8 threads of a block reduce the absmax together.
#include "kernels/quantize_4bit.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <array>
#include <cfloat>

#include "core/quant/quant_tables.h"
#include "core/quant/quantize_4bit.h"
#include "core/quant/torch_cuda_mean.h"
#include "core/util/error.h"
#include "kernels/bnb_math.cuh"
#include "kernels/cuda_check.h"
#include "kernels/device_buffer.h"

namespace qls::cuda {
namespace {

constexpr int kPerThread = 8;
constexpr int kNestedBlock = 256;  // bnb's fixed nested blocksize
constexpr int kMeanMaxThreads = 512;  // TorchMeanLaunch::threads is at most this

// Passed by value: the kernels read the thresholds straight from the parameter bank.
struct CodeThresholds {
    float t[15];  // NF4: between code k and k+1; FP4: the first 7, over |s|
};

template <QuantType Q>
__device__ __forceinline__ std::uint32_t code_4bit(float s, const CodeThresholds& c) {
    std::uint32_t code = 0;  // the number of thresholds exceeded = bnb's strict-> tree
    if constexpr (Q == QuantType::NF4) {
#pragma unroll
        for (int k = 0; k < 15; ++k) code += s > c.t[k] ? 1u : 0u;
        return code;
    } else {
        const float a = fabsf(s);
#pragma unroll
        for (int k = 0; k < 7; ++k) code += a > c.t[k] ? 1u : 0u;
        // rank -> magnitude code [0, 1, 6, 7, 4, 5, 2, 3], one nibble per rank
        return ((0x32547610u >> (4 * code)) & 7u) | (s < 0.0f ? 8u : 0u);
    }
}

__device__ __forceinline__ float to_float(float v) {
    return v;
}
__device__ __forceinline__ float to_float(__nv_bfloat16 v) {
    return __bfloat162float(v);
}
__device__ __forceinline__ float to_float(__half v) {
    return __half2float(v);
}

// Elements past n read as 0, as bnb's BlockLoad pads them.
template <typename T>
__device__ __forceinline__ void load_8(const T* __restrict__ in, std::int64_t first, std::int64_t n,
                                       float (&v)[kPerThread]) {
    if (first + kPerThread <= n) {
        constexpr int kVectors = kPerThread * sizeof(T) / 16;
        const uint4* src = reinterpret_cast<const uint4*>(in + first);
#pragma unroll
        for (int w = 0; w < kVectors; ++w) {
            const uint4 raw = src[w];
            const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
            for (int j = 0; j < 16 / int(sizeof(T)); ++j) v[w * (16 / sizeof(T)) + j] = to_float(e[j]);
        }
    } else {
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) v[j] = first + j < n ? to_float(in[first + j]) : 0.0f;
    }
}

// Max over the kGroup consecutive threads of a quantization block. Max is exact and the
// per-thread values are never NaN, so the order does not matter.
template <int kGroup, int kThreads>
__device__ __forceinline__ float group_max(float m, float* warp_max) {
    if constexpr (kGroup <= 32) {
#pragma unroll
        for (int off = kGroup / 2; off > 0; off /= 2) m = bnb_max(m, __shfl_xor_sync(0xffffffffu, m, off));
        return m;
    } else {
        constexpr int kWarps = kGroup / 32;
#pragma unroll
        for (int off = 16; off > 0; off /= 2) m = bnb_max(m, __shfl_xor_sync(0xffffffffu, m, off));
        const int warp = threadIdx.x / 32;
        __syncthreads();  // the previous tile's readers are done with warp_max
        if (threadIdx.x % 32 == 0) warp_max[warp] = m;
        __syncthreads();
        const int first_warp = warp / kWarps * kWarps;
        m = warp_max[first_warp];
#pragma unroll
        for (int w = 1; w < kWarps; ++w) m = bnb_max(m, warp_max[first_warp + w]);
        return m;
    }
}

template <typename T, QuantType Q, int kBlock, int kThreads>
__global__ void __launch_bounds__(kThreads)
    quantize_4bit_kernel(const T* __restrict__ in, std::int64_t n, std::uint8_t* __restrict__ packed,
                         float* __restrict__ absmax, const CodeThresholds thresholds) {
    constexpr int kGroup = kBlock / kPerThread;
    constexpr std::int64_t kTile = std::int64_t(kThreads) * kPerThread;
    __shared__ float warp_max[kThreads / 32];
    const std::int64_t tiles = (n + kTile - 1) / kTile;
    // The trip count depends on blockIdx alone, so every thread reaches the barriers inside.
    for (std::int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const std::int64_t first = tile * kTile + std::int64_t(threadIdx.x) * kPerThread;
        float v[kPerThread];
        load_8(in, first, n, v);
        float m = -FLT_MAX;  // bnb's start: a block of NaNs keeps it
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) m = bnb_max_abs(m, v[j]);
        m = group_max<kGroup, kThreads>(m, warp_max);
        if (threadIdx.x % kGroup == 0 && first < n) absmax[first / kBlock] = m;

        const float inv = bnb_rcp(m);
        std::uint32_t word = 0;  // byte k = code[2k] << 4 | code[2k + 1], little-endian
#pragma unroll
        for (int j = 0; j < kPerThread; ++j)
            word |= code_4bit<Q>(bnb_mul(v[j], inv), thresholds) << (8 * (j / 2) + (j % 2 ? 0 : 4));
        if (first + kPerThread <= n) {
            *reinterpret_cast<std::uint32_t*>(packed + first / 2) = word;
        } else if (first < n) {
            const std::int64_t bytes = (n - first + 1) / 2;
            for (std::int64_t b = 0; b < bytes; ++b) packed[first / 2 + b] = std::uint8_t(word >> (8 * b));
        }
    }
}

// torch's CUDA `mean()` in its own order (core/quant/torch_cuda_mean.cpp is the CPU twin and
// holds the launch plan): one block per CTA of the plan, `threads` lanes each, four float
// accumulators per lane folded left to right, then a halving tree over the lanes.
__global__ void __launch_bounds__(kMeanMaxThreads)
    torch_mean_cta_kernel(const float* __restrict__ x, std::int64_t n, TorchMeanLaunch l,
                          float* __restrict__ cta_sums) {
    __shared__ float lanes[kMeanMaxThreads];
    const std::int64_t t = threadIdx.x, cta = blockIdx.x;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (l.vectorized) {
        const std::int64_t stride = l.threads * l.ctas;
        for (std::int64_t v = t + cta * l.threads; v * 4 + 3 < n; v += stride)
            for (int i = 0; i < 4; ++i) acc[i] += x[v * 4 + i];
        const std::int64_t tail = n - n % 4 + t;
        if (cta == 0 && tail < n) acc[0] += x[tail];
    } else {
        std::int64_t j = 0;
        for (std::int64_t i = t; i < n; i += l.threads, ++j) acc[j % 4] += x[i];
    }
    lanes[t] = ((acc[0] + acc[1]) + acc[2]) + acc[3];
    __syncthreads();
    for (std::int64_t offset = l.threads / 2; offset >= 1; offset /= 2) {
        if (t < offset) lanes[t] += lanes[t + offset];
        __syncthreads();
    }
    if (t == 0) cta_sums[cta] = lanes[0];
}

// global_reduce: lane t sums CTA results t, t + threads, ... in order, then the same tree;
// the mean is the sum times float(1) / n.
__global__ void __launch_bounds__(kMeanMaxThreads)
    torch_mean_global_kernel(const float* __restrict__ cta_sums, std::int64_t n, TorchMeanLaunch l,
                             float* __restrict__ offset) {
    __shared__ float lanes[kMeanMaxThreads];
    const std::int64_t t = threadIdx.x;
    float sum = cta_sums[0];
    if (l.ctas > 1) {
        float acc = 0.0f;
        for (std::int64_t c = t; c < l.ctas; c += l.threads) acc += cta_sums[c];
        lanes[t] = acc;
        __syncthreads();
        for (std::int64_t half = l.threads / 2; half >= 1; half /= 2) {
            if (t < half) lanes[t] += lanes[t + half];
            __syncthreads();
        }
        sum = lanes[0];
    }
    if (t == 0) offset[0] = __fmul_rn(sum, __fdiv_rn(1.0f, float(n)));
}

// kernels.cu dQuantize<0>: binary search from pivot 127, then the midpoint test.
__device__ std::uint8_t dynamic_code(const float* map, float x) {
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    float lower = -1.0f, upper = 1.0f;
    float val = map[pivot];
    for (int i = 64; i > 0; i >>= 1) {
        if (x > val) {
            lower_pivot = pivot;
            lower = val;
            pivot += i;
        } else {
            upper_pivot = pivot;
            upper = val;
            pivot -= i;
        }
        val = map[pivot];
    }
    if (upper_pivot == 255) upper = map[upper_pivot];
    if (lower_pivot == 0) lower = map[lower_pivot];
    if (x > val) return std::uint8_t(x > __fmul_rn(__fadd_rn(upper, val), 0.5f) ? upper_pivot : pivot);
    return std::uint8_t(x < __fmul_rn(__fadd_rn(lower, val), 0.5f) ? lower_pivot : pivot);
}

// One nested block of 256 absmax values per iteration, one value per thread.
__global__ void __launch_bounds__(kNestedBlock)
    double_quant_kernel(const float* __restrict__ absmax, std::int64_t n, const float* __restrict__ offset,
                        const float* __restrict__ code_map, std::uint8_t* __restrict__ codes,
                        float* __restrict__ nested_absmax) {
    __shared__ float map[256];
    __shared__ float warp_max[kNestedBlock / 32];
    map[threadIdx.x] = code_map[threadIdx.x];
    __syncthreads();
    const float off = offset[0];
    const std::int64_t blocks = (n + kNestedBlock - 1) / kNestedBlock;
    for (std::int64_t c = blockIdx.x; c < blocks; c += gridDim.x) {
        const std::int64_t i = c * kNestedBlock + threadIdx.x;
        // torch's `absmax - offset`: an IEEE subtract, outside bnb's fast-math kernel
        const float x = i < n ? __fsub_rn(absmax[i], off) : 0.0f;
        const float m = group_max<kNestedBlock, kNestedBlock>(bnb_max_abs(-FLT_MAX, x), warp_max);
        if (threadIdx.x == 0) nested_absmax[c] = m;
        if (i < n) codes[i] = dynamic_code(map, bnb_mul(x, bnb_rcp(m)));
    }
}

__global__ void reciprocal_kernel(const float* __restrict__ in, std::int64_t n, float* __restrict__ out) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) out[i] = bnb_rcp(in[i]);
}

template <typename T, QuantType Q, int kBlock>
void quantize_4bit_launch(const Quantize4bitArgs& a, const CodeThresholds& thresholds, cudaStream_t stream) {
    constexpr int kThreads = kBlock / kPerThread > 256 ? kBlock / kPerThread : 256;
    const auto kernel = quantize_4bit_kernel<T, Q, kBlock, kThreads>;
    int device = 0, sms = 0, per_sm = 0;
    QLS_CUDA_CHECK(cudaGetDevice(&device));
    QLS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    QLS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0));
    const std::int64_t tiles =
        (a.n + std::int64_t(kThreads) * kPerThread - 1) / (std::int64_t(kThreads) * kPerThread);
    const int grid = int(std::min<std::int64_t>(tiles, std::int64_t(sms) * per_sm));
    kernel<<<grid, kThreads, 0, stream>>>(static_cast<const T*>(a.input), a.n, a.packed, a.absmax,
                                          thresholds);
    QLS_CUDA_CHECK(cudaGetLastError());
}

template <typename T, QuantType Q>
void quantize_4bit_dispatch_block(const Quantize4bitArgs& a, const CodeThresholds& t, cudaStream_t s) {
    switch (a.blocksize) {
        case 32:
            return quantize_4bit_launch<T, Q, 32>(a, t, s);
        case 64:
            return quantize_4bit_launch<T, Q, 64>(a, t, s);
        case 128:
            return quantize_4bit_launch<T, Q, 128>(a, t, s);
        case 256:
            return quantize_4bit_launch<T, Q, 256>(a, t, s);
        case 512:
            return quantize_4bit_launch<T, Q, 512>(a, t, s);
        case 1024:
            return quantize_4bit_launch<T, Q, 1024>(a, t, s);
        case 2048:
            return quantize_4bit_launch<T, Q, 2048>(a, t, s);
        case 4096:
            return quantize_4bit_launch<T, Q, 4096>(a, t, s);
        default:
            QLS_ASSERT(false, "quantize_4bit: blocksize ", a.blocksize);
    }
}

template <typename T>
void quantize_4bit_dispatch_type(const Quantize4bitArgs& a, cudaStream_t s) {
    CodeThresholds t{};
    if (a.type == QuantType::NF4) {
        for (int k = 0; k < 15; ++k) t.t[k] = nf4_thresholds()[std::size_t(k)];
        quantize_4bit_dispatch_block<T, QuantType::NF4>(a, t, s);
    } else {
        for (int k = 0; k < 7; ++k) t.t[k] = fp4_thresholds()[std::size_t(k)];
        quantize_4bit_dispatch_block<T, QuantType::FP4>(a, t, s);
    }
}

}  // namespace

void quantize_4bit(const Quantize4bitArgs& a, cudaStream_t stream) {
    check_quant_blocksize(a.blocksize);
    QLS_ASSERT(a.n > 0, "quantize_4bit: empty input");
    QLS_ASSERT(reinterpret_cast<std::uintptr_t>(a.input) % 16 == 0 &&
                   reinterpret_cast<std::uintptr_t>(a.packed) % 4 == 0,
               "quantize_4bit: input must be 16-byte and packed 4-byte aligned");
    switch (a.dtype) {
        case DType::F32:
            return quantize_4bit_dispatch_type<float>(a, stream);
        case DType::BF16:
            return quantize_4bit_dispatch_type<__nv_bfloat16>(a, stream);
        case DType::F16:
            return quantize_4bit_dispatch_type<__half>(a, stream);
        default:
            QLS_CHECK(ConfigError, false, "4-bit quantization takes F32, BF16 or F16 input, got ",
                      dtype_name(a.dtype));
    }
}

void absmax_mean(const float* absmax, std::int64_t num_blocks, float* offset, cudaStream_t stream) {
    QLS_ASSERT(num_blocks > 0 && num_blocks <= INT32_MAX, "absmax_mean: ", num_blocks, " blocks");
    int device = 0, sms = 0;
    QLS_CUDA_CHECK(cudaGetDevice(&device));
    QLS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    const TorchMeanLaunch l = torch_mean_launch(num_blocks, sms);
    float* cta_sums = nullptr;
    QLS_CUDA_CHECK(cudaMallocAsync(&cta_sums, std::size_t(l.ctas) * sizeof(float), stream));
    torch_mean_cta_kernel<<<unsigned(l.ctas), unsigned(l.threads), 0, stream>>>(absmax, num_blocks, l, cta_sums);
    torch_mean_global_kernel<<<1, unsigned(l.threads), 0, stream>>>(cta_sums, num_blocks, l, offset);
    const cudaError_t launched = cudaGetLastError();
    QLS_CUDA_CHECK(cudaFreeAsync(cta_sums, stream));
    QLS_CUDA_CHECK(launched);
}

void double_quant_absmax(const DoubleQuantArgs& a, cudaStream_t stream) {
    QLS_ASSERT(a.num_blocks > 0, "double_quant_absmax: no blocks");
    int device = 0, sms = 0;
    QLS_CUDA_CHECK(cudaGetDevice(&device));
    QLS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    const std::int64_t blocks = (a.num_blocks + kNestedBlock - 1) / kNestedBlock;
    const int grid = int(std::min<std::int64_t>(blocks, std::int64_t(sms) * 8));
    double_quant_kernel<<<grid, kNestedBlock, 0, stream>>>(a.absmax, a.num_blocks, a.offset, a.code_map,
                                                           a.codes, a.nested_absmax);
    QLS_CUDA_CHECK(cudaGetLastError());
}

namespace {

NestedAbsmax double_quant_on_device(const DeviceBuffer& absmax, std::int64_t num_blocks,
                                    std::optional<float> offset) {
    const std::array<float, 256>& map = dynamic_signed_map();
    const DeviceBuffer d_map = to_device(std::span<const float>(map));
    DeviceBuffer d_offset(sizeof(float));
    if (offset) {
        d_offset.upload(std::as_bytes(std::span<const float>(&*offset, 1)));
    } else {
        absmax_mean(absmax.as<float>(), num_blocks, d_offset.as<float>(), nullptr);
    }
    const std::int64_t nested_blocks = (num_blocks + kNestedBlock - 1) / kNestedBlock;
    DeviceBuffer d_codes{static_cast<std::size_t>(num_blocks)};
    DeviceBuffer d_nested(std::size_t(nested_blocks) * sizeof(float));
    double_quant_absmax({absmax.as<float>(), num_blocks, d_offset.as<float>(), d_map.as<float>(),
                         d_codes.as<std::uint8_t>(), d_nested.as<float>()},
                        nullptr);
    NestedAbsmax nested;
    nested.codes = to_host<std::uint8_t>(d_codes);
    nested.absmax = to_host<float>(d_nested);
    nested.code_map.assign(map.begin(), map.end());
    nested.offset = to_host<float>(d_offset)[0];
    nested.blocksize = kNestedBlock;
    return nested;
}

}  // namespace

Quantized4bit quantize_4bit_cuda(const TensorView& host_input, QuantType type, int blocksize,
                                 bool double_quant) {
    check_quant_blocksize(blocksize);
    const DType dt = host_input.dtype;
    QLS_CHECK(ConfigError, dt == DType::F32 || dt == DType::BF16 || dt == DType::F16,
              "4-bit quantization takes F32, BF16 or F16 input, got ", dtype_name(dt));
    const std::int64_t n = host_input.numel();
    QLS_CHECK(DataError, n > 0, "4-bit quantization of an empty tensor, shape ", host_input.shape);
    QLS_CHECK(DataError, host_input.data.size() == std::size_t(n) * dtype_size(dt),
              "4-bit quantization: shape ", host_input.shape, " x ", dtype_name(dt), " needs ",
              std::size_t(n) * dtype_size(dt), " bytes, the view has ", host_input.data.size());

    Quantized4bit q;
    q.type = type;
    q.blocksize = blocksize;
    q.dtype = dt;
    q.shape = host_input.shape;
    q.quant_map = quant_values(type);
    const std::int64_t blocks = q.num_blocks();
    const DeviceBuffer d_input = to_device(host_input.data);
    DeviceBuffer d_packed{static_cast<std::size_t>((n + 1) / 2)};
    DeviceBuffer d_absmax(std::size_t(blocks) * sizeof(float));
    quantize_4bit({d_input.data(), dt, n, type, blocksize, d_packed.as<std::uint8_t>(), d_absmax.as<float>()},
                  nullptr);
    q.packed = to_host<std::uint8_t>(d_packed);
    if (double_quant)
        q.nested = double_quant_on_device(d_absmax, blocks, std::nullopt);
    else
        q.absmax = to_host<float>(d_absmax);
    return q;
}

NestedAbsmax double_quant_cuda(std::span<const float> absmax, std::optional<float> offset) {
    QLS_CHECK(DataError, !absmax.empty(), "double quantization of an empty absmax");
    const DeviceBuffer d_absmax = to_device(absmax);
    return double_quant_on_device(d_absmax, std::int64_t(absmax.size()), offset);
}

std::vector<float> reciprocal_approx_cuda(std::span<const float> values) {
    if (values.empty()) return {};
    const DeviceBuffer d_in = to_device(values);
    DeviceBuffer d_out(values.size_bytes());
    const std::int64_t n = std::int64_t(values.size());
    reciprocal_kernel<<<unsigned((n + 255) / 256), 256>>>(d_in.as<float>(), n, d_out.as<float>());
    QLS_CUDA_CHECK(cudaGetLastError());
    return to_host<float>(d_out);
}

}  // namespace qls::cuda
