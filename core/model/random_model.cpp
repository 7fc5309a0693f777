#include "core/model/random_model.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "core/backend/dropout_mask.h"
#include "core/model/llama_tensors.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls {

namespace {

LlamaConfig shape(std::int64_t hidden, std::int64_t inter, std::int64_t layers, std::int64_t heads,
                  std::int64_t kv_heads, std::int64_t vocab, bool tied) {
    LlamaConfig c;
    c.model_type = "llama";
    c.architecture = "LlamaForCausalLM";
    c.hidden_size = hidden;
    c.intermediate_size = inter;
    c.num_layers = layers;
    c.num_heads = heads;
    c.num_kv_heads = kv_heads;
    c.head_dim = hidden / heads;
    c.vocab_size = vocab;
    c.max_position_embeddings = 8192;
    c.rms_norm_eps = 1e-5;
    c.tie_word_embeddings = tied;
    c.dtype = "bfloat16";
    return c;
}

}  // namespace

LlamaConfig benchmark_shape(std::string_view name) {
    if (name == "llama-1b") return shape(2048, 5632, 22, 32, 4, 32000, false);
    if (name == "llama-7b") return shape(4096, 11008, 32, 32, 32, 32000, false);
    if (name == "smollm2-135m") return shape(576, 1536, 30, 9, 3, 49152, true);
    throw ConfigError(str_cat("unknown shape '", name, "': expected llama-1b, llama-7b or smollm2-135m"));
}

Model random_model(const LlamaConfig& config, DType dtype, std::uint64_t seed) {
    QLS_ASSERT(dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::F16, "random_model: ",
               dtype_name(dtype));
    Model m;
    m.name = "random";
    m.config = config;
    constexpr float kStd = 0.02f;
    const float half_width = kStd * std::sqrt(3.0f);  // U(-a, a) has standard deviation a / √3
    std::uint64_t tensor = 0;
    for (const ExpectedTensor& e : llama_expected_tensors(config)) {
        const auto n = static_cast<std::size_t>(numel(e.shape));
        auto bytes = std::make_shared<std::vector<std::byte>>(n * dtype_size(dtype));
        const bool norm = e.name.ends_with("norm.weight"), bias = e.name.ends_with(".bias");
        const std::uint64_t stream = mix64(seed ^ mix64(++tensor));
        parallel_for(n, 1 << 16, [&](std::size_t b, std::size_t end) {
            for (std::size_t i = b; i < end; ++i) {
                const double u = static_cast<double>(mix64(stream + i) >> 11) * 0x1p-53;  // [0, 1)
                const float v = norm ? 1.0f : bias ? 0.0f : static_cast<float>((2 * u - 1) * half_width);
                if (dtype == DType::F32) {
                    std::memcpy(bytes->data() + 4 * i, &v, 4);
                } else {
                    const std::uint16_t h = dtype == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
                    std::memcpy(bytes->data() + 2 * i, &h, 2);
                }
            }
        });
        Weight w;
        w.shape = e.shape;
        w.view = TensorView{dtype, e.shape, std::span<const std::byte>(*bytes)};
        w.owned = std::move(bytes);
        m.weights.tensors.emplace(e.name, std::move(w));
    }
    check_model_weights(config, m.weights, m.name);
    return m;
}

}  // namespace qls
