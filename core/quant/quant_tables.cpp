// Tables from formats.md §1.1-1.2 (fp32 bits) and §2 (map construction); trees from
// bitsandbytes csrc/kernels.cu (dQuantizeNF4, dQuantizeFP4, dQuantize<0>).
#include "core/quant/quant_tables.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>

namespace qls {
namespace {

template <std::size_t N>
constexpr std::array<float, N> from_bits(const std::array<std::uint32_t, N>& bits) {
    std::array<float, N> out{};
    for (std::size_t i = 0; i < N; ++i) out[i] = std::bit_cast<float>(bits[i]);
    return out;
}

constexpr std::array<float, 16> k_nf4 = from_bits<16>({
    0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000,
    0x3da2faff, 0x3e24cae3, 0x3e7c04dd, 0x3ead033a, 0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000});

constexpr std::array<float, 16> k_fp4 = from_bits<16>({
    0x00000000, 0x3baaaaab, 0x3f2aaaab, 0x3f800000, 0x3eaaaaab, 0x3f000000, 0x3e2aaaab, 0x3e800000,
    0x00000000, 0xbbaaaaab, 0xbf2aaaab, 0xbf800000, 0xbeaaaaab, 0xbf000000, 0xbe2aaaab, 0xbe800000});

constexpr std::array<float, 15> k_nf4_thresholds = from_bits<15>({
    0xbf591cd9, 0xbf1c5270, 0xbeeb8480, 0xbeadea76, 0xbe703cec, 0xbe0d38bc, 0xbd3a7871, 0x3d22faff,
    0x3df64863, 0x3e5067e0, 0x3e9582d4, 0x3ec753f9, 0x3f006d03, 0x3f248daf, 0x3f5c89d9});

// Note 0x3f155550 (0.583333), not the fp32 of 7/12: the kernel's literal is truncated.
constexpr std::array<float, 7> k_fp4_thresholds = from_bits<7>(
    {0x3b2aaab9, 0x3db00000, 0x3e555555, 0x3e955555, 0x3ed55556, 0x3f155550, 0x3f555555});

// FP4 magnitude rank (thresholds exceeded) -> 3-bit magnitude code.
constexpr std::array<std::uint8_t, 8> k_fp4_rank_code = {0, 1, 6, 7, 4, 5, 2, 3};

// torch.linspace(0.1, 1, steps, dtype=float32) on the CPU: each half is anchored at its own
// end point and computed with one rounding (the vector path's fused multiply-add); this is
// what reproduces the published map bit for bit.
std::vector<float> linspace_f32(float start, float end, int steps) {
    const float step = (end - start) / static_cast<float>(steps - 1);
    const int halfway = steps / 2;
    std::vector<float> out(static_cast<std::size_t>(steps));
    for (int i = 0; i < steps; ++i)
        out[static_cast<std::size_t>(i)] =
            i < halfway ? std::fma(step, static_cast<float>(i), start)
                        : std::fma(-step, static_cast<float>(steps - i - 1), end);
    return out;
}

std::array<float, 256> build_dynamic_signed_map() {
    // Python's 10 ** (i - 6) as a double, converted to fp32 when torch multiplies.
    constexpr std::array<double, 7> scales = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
    std::vector<float> data;
    for (int i = 0; i < 7; ++i) {
        const std::vector<float> b = linspace_f32(0.1f, 1.0f, (1 << i) + 1);
        const float scale = static_cast<float>(scales[static_cast<std::size_t>(i)]);
        for (std::size_t k = 0; k + 1 < b.size(); ++k) {
            const float mean = (b[k] + b[k + 1]) / 2.0f;
            data.push_back(scale * mean);
            data.push_back(-scale * mean);
        }
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    std::sort(data.begin(), data.end());
    std::array<float, 256> out{};
    std::copy(data.begin(), data.end(), out.begin());
    return out;
}

}  // namespace

const std::array<float, 16>& nf4_values() { return k_nf4; }
const std::array<float, 16>& fp4_values() { return k_fp4; }
const std::array<float, 16>& quant_values(QuantType type) {
    return type == QuantType::NF4 ? k_nf4 : k_fp4;
}
const std::array<float, 15>& nf4_thresholds() { return k_nf4_thresholds; }
const std::array<float, 7>& fp4_thresholds() { return k_fp4_thresholds; }

const std::array<float, 256>& dynamic_signed_map() {
    static const std::array<float, 256> map = build_dynamic_signed_map();
    return map;
}

// The kernel's balanced tree: root threshold 7, then 11 or 3, then 13/9/5/1, then the leaves.
std::uint8_t quantize_nf4_code(float s) {
    int lo = 0;
    for (int step = 8; step > 0; step /= 2)
        if (s > k_nf4_thresholds[static_cast<std::size_t>(lo + step - 1)]) lo += step;
    return static_cast<std::uint8_t>(lo);
}

// Sign first (strict < 0, so -0.0 is positive), then the tree over |s|: root 3, then 5 or 1.
std::uint8_t quantize_fp4_code(float s) {
    const int sign = s < 0.0f ? 8 : 0;
    const float a = std::fabs(s);
    int rank = 0;
    for (int step = 4; step > 0; step /= 2)
        if (a > k_fp4_thresholds[static_cast<std::size_t>(rank + step - 1)]) rank += step;
    return static_cast<std::uint8_t>(k_fp4_rank_code[static_cast<std::size_t>(rank)] + sign);
}

std::uint8_t quantize_dynamic_code(const std::array<float, 256>& map, float s) {
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    float lower = -1.0f, upper = 1.0f;
    float val = map[127];
    for (int i = 64; i > 0; i >>= 1) {
        if (s > val) {
            lower_pivot = pivot;
            lower = val;
            pivot += i;
        } else {
            upper_pivot = pivot;
            upper = val;
            pivot -= i;
        }
        val = map[static_cast<std::size_t>(pivot)];
    }
    if (upper_pivot == 255) upper = map[255];
    if (lower_pivot == 0) lower = map[0];
    if (s > val) {
        const float midpoint = (upper + val) * 0.5f;
        return static_cast<std::uint8_t>(s > midpoint ? upper_pivot : pivot);
    }
    const float midpoint = (lower + val) * 0.5f;
    return static_cast<std::uint8_t>(s < midpoint ? lower_pivot : pivot);
}

}  // namespace qls
