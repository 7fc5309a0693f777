#include "core/model/model_weights.h"

#include "core/io/ggml_dequant.h"
#include "core/util/error.h"

namespace qls {

DenseValues dense_values(const Weight& w) {
    QLS_ASSERT(!w.is_quantized(), "dense_values of a pre-quantized 4-bit weight");
    if (!w.gguf_type || w.gguf_data.empty()) return {w.view, w.owned};
    const std::size_t n = static_cast<std::size_t>(numel(w.shape));
    auto bytes = std::make_shared<std::vector<std::byte>>(n * sizeof(float));
    // operator new aligns to at least 16 bytes: the buffer holds floats.
    const std::span<float> values(reinterpret_cast<float*>(bytes->data()), n);
    ggml_dequantize_rows(*w.gguf_type, w.gguf_data, values, static_cast<std::size_t>(w.shape.back()));
    return {TensorView{DType::F32, w.shape, *bytes}, bytes};
}

const Weight& ModelWeights::get(const std::string& name) const {
    auto it = tensors.find(name);
    QLS_CHECK(FormatError, it != tensors.end(), "tensor '", name, "' is missing");
    return it->second;
}

}  // namespace qls
