#include "core/model/model_weights.h"

#include "core/util/error.h"

namespace qls {

const Weight& ModelWeights::get(const std::string& name) const {
    auto it = tensors.find(name);
    QLS_CHECK(FormatError, it != tensors.end(), "tensor '", name, "' is missing");
    return it->second;
}

}  // namespace qls
