#include "core/model/random_model.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/backend/dropout_mask.h"
#include "core/io/safetensors_writer.h"
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
    if (name == "tiny") return shape(128, 384, 2, 4, 2, 2048, false);
    throw ConfigError(str_cat("unknown shape '", name, "': expected llama-1b, llama-7b, smollm2-135m or tiny"));
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

std::int64_t write_model_folder(const Model& model, const std::filesystem::path& dir) {
    const LlamaConfig& c = model.config;
    QLS_ASSERT(c.rope_scaling.type == RopeType::Default && !c.qkv_bias && c.model_type == "llama",
               "write_model_folder: only random_model's plain Llama shapes");
    std::filesystem::create_directories(dir);
    // The fields transformers' LlamaConfig writes that parse_llama_config reads back.
    const nlohmann::json config = {
        {"architectures", {c.architecture}},
        {"model_type", c.model_type},
        {"hidden_size", c.hidden_size},
        {"intermediate_size", c.intermediate_size},
        {"num_hidden_layers", c.num_layers},
        {"num_attention_heads", c.num_heads},
        {"num_key_value_heads", c.num_kv_heads},
        {"head_dim", c.head_dim},
        {"vocab_size", c.vocab_size},
        {"max_position_embeddings", c.max_position_embeddings},
        {"rms_norm_eps", c.rms_norm_eps},
        {"rope_theta", c.rope_theta},
        {"hidden_act", "silu"},
        {"tie_word_embeddings", c.tie_word_embeddings},
        {"torch_dtype", c.dtype},
    };
    const std::filesystem::path config_path = dir / "config.json";
    std::ofstream out(config_path, std::ios::binary);
    out << config.dump(2) << '\n';
    out.close();
    QLS_CHECK(IoError, out.good(), "cannot write '", config_path.string(), "'");
    std::vector<NamedTensor> tensors;
    for (const auto& [name, w] : model.weights.tensors) tensors.push_back({name, w.view});
    const std::filesystem::path weights_path = dir / "model.safetensors";
    write_safetensors(weights_path, tensors);
    return static_cast<std::int64_t>(std::filesystem::file_size(weights_path));
}

}  // namespace qls
