// HF rotate_half RoPE (formats.md §6.3), the core of kernels/rope.cu, as
// core/backend/cpu/cpu_rope.cpp computes it: for i < D/2,
// x'[i] = x[i]·cos − x[i+D/2]·sin, x'[i+D/2] = x[i+D/2]·cos + x[i]·sin; the inverse uses −sin.
// N tokens, H heads, D head dim; one thread per (token, head, i < D/2) pair, so the pair is read
// and written by the same thread and the rotation is in place without a barrier.
#pragma once
#include <cstdint>

#include "kernels/math/float_ops.h"

namespace qls::kmath {

struct RopeItem {
    std::int64_t token, head, i;
};

// Work item e of N·H·(D/2), the pair index fastest (adjacent threads touch adjacent columns).
QLS_HD RopeItem rope_item(std::int64_t e, std::int64_t heads, std::int64_t half) {
    const std::int64_t th = e / half;
    return {th / heads, th % heads, e % half};
}

// Element offset of x[token, head, i] in a tensor whose tokens are `pitch` elements apart.
QLS_HD std::int64_t rope_offset(const RopeItem& it, std::int64_t pitch, std::int64_t d) {
    return it.token * pitch + it.head * d + it.i;
}

// Rotates the pair (x1, x2) = (x[i], x[i + D/2]) by the angle whose cos/sin are c, s.
QLS_HD void rope_rotate(float& x1, float& x2, float c, float s, bool inverse) {
    const float sn = inverse ? -s : s;  // the CPU's sign · sin, exact
    const float a = x1, b = x2;
    x1 = sub(mul(a, c), mul(b, sn));
    x2 = add(mul(b, c), mul(a, sn));
}

}  // namespace qls::kmath
