// How far two fp32 implementations of torch's first AdamW step (zero state, step 1) may end
// apart, per element, when their clipped gradients differ: the bound the parity tests use
// instead of a fixed number (a gradient element near Adam's eps turns tiny gradient noise into
// a large change of the update).
//
// At step 1, m̂ = x and v̂ = x² for the clipped gradient x = c·g, so the update is
//   p' = p·(1 − lr·wd) − lr·f(x),   f(x) = x / (|x| + eps).
// Rounding: each implementation evaluates this with a handful of fp32 operations, each off by
// at most 2^-24 of a value no larger than |p| + lr; 8 of them per side, two sides: 16·2^-24.
// Inputs: f'(y) = eps / (|y| + eps)² is largest at the smallest |y|, so by the mean value
// theorem |f(x) − f(x')| ≤ eps / (lo + eps)² · |x − x'|, lo the smaller |x| (0 when the signs
// differ and the interval holds 0).
#pragma once
#include <algorithm>
#include <cmath>

namespace qls::test {

inline double adamw_first_step_bound(double p, double x, double x_other, double lr, double eps) {
    const double lo = (x > 0) == (x_other > 0) ? std::min(std::fabs(x), std::fabs(x_other)) : 0.0;
    const double slope = eps / ((lo + eps) * (lo + eps));
    return lr * slope * std::fabs(x - x_other) + 16 * 0x1p-24 * (std::fabs(p) + lr);
}

}  // namespace qls::test
