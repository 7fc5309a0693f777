#include "core/data/batch.h"

#include <algorithm>

namespace qls {

std::int64_t Batch::trained_tokens() const {
    return std::count_if(targets.begin(), targets.end(),
                         [](std::int32_t t) { return t != kIgnoreIndex; });
}

}  // namespace qls
