#include "core/quant/rcp_approx.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/quant/quant_tables.h"

namespace qls {
namespace {

constexpr std::uint32_t kTable[] = {
#include "core/quant/rcp_approx_table.inc"
};

}  // namespace

float reciprocal_with_exceptions(float a, RcpExceptions exceptions) {
    const float r = 1.0f / flush_subnormal(a);
    const std::uint32_t mantissa = std::bit_cast<std::uint32_t>(a) & 0x7fffffu;
    // Zero, infinite and NaN inputs (and flushed subnormals) have no neighbour to move to.
    if (!std::isfinite(r) || r == 0.0f) return flush_subnormal(r);
    const auto it = std::lower_bound(exceptions.begin(), exceptions.end(), mantissa << 1);
    if (it == exceptions.end() || (*it >> 1) != mantissa) return flush_subnormal(r);
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(r);
    return flush_subnormal(std::bit_cast<float>((*it & 1u) ? bits + 1 : bits - 1));
}

RcpExceptions rcp_approx_exceptions() { return kTable; }

float reciprocal_rcp_approx_ftz(float a) { return reciprocal_with_exceptions(a, kTable); }

}  // namespace qls
