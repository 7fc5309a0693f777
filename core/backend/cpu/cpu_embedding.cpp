// nn.Embedding lookup of the frozen token table.
#include "core/backend/cpu/cpu_ops.h"
#include "core/util/error.h"

namespace qls::cpu {

void embedding_forward(const EmbeddingArgs& a) {
    const std::int64_t vocab = a.table.dim(0), c = a.table.dim(1);
    const std::int32_t* ids = a.tokens.ptr<const std::int32_t>();
    for (std::int64_t t = 0, n = a.tokens.numel(); t < n; ++t) {
        QLS_CHECK(DataError, ids[t] >= 0 && ids[t] < vocab, "token id ", ids[t],
                  " is outside the model's vocabulary of ", vocab,
                  " (is the tokenizer the model's own?)");
        to_f32(a.table, a.out.ptr<float>() + t * c, static_cast<std::int64_t>(ids[t]) * c, c);
    }
}

}  // namespace qls::cpu
