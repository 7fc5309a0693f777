// nn.Embedding lookup of the frozen token table.
#include "core/backend/cpu/cpu_ops.h"

namespace qls::cpu {

void embedding_forward(const EmbeddingArgs& a) {
    const std::int64_t c = a.table.dim(1);
    const std::int32_t* ids = a.tokens.ptr<const std::int32_t>();
    for (std::int64_t t = 0, n = a.tokens.numel(); t < n; ++t) {
        to_f32(a.table, a.out.ptr<float>() + t * c, static_cast<std::int64_t>(ids[t]) * c, c);
    }
}

}  // namespace qls::cpu
