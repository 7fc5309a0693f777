// Shared by the model and training tests: the reference fixtures as Batches and LoRA views.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <filesystem>
#include <memory>

#include "core/backend/cpu/cpu_backend.h"
#include "core/data/batch.h"
#include "core/model/device_base_model.h"
#include "core/model/llama_tensors.h"
#include "core/model/lora_parameters.h"
#include "core/model/model_loader.h"
#include "core/io/safetensors_reader.h"
#include "core/util/tensor_view.h"

namespace qls::test {

// A model folder loaded onto a CPU backend (dense base unless told otherwise).
struct Loaded {
    CpuBackend backend;
    Model model;
    std::unique_ptr<DeviceBaseModel> base;
    explicit Loaded(const std::filesystem::path& dir, BaseWeightsOptions opt = {std::nullopt})
        : model(load_model(dir)) {
        base = std::make_unique<DeviceBaseModel>(backend, model, opt);
    }
};


// input_ids (B, T) I64 with HF's labels (same shape, -100 = ignored): the shift happens here,
// as transformers' ForCausalLMLoss does it.
inline Batch batch_from_ids(const TensorView& ids, const TensorView* labels = nullptr) {
    Batch b;
    b.batch = ids.shape.at(0);
    b.seq_len = ids.shape.at(1);
    auto id = ids.as<std::int64_t>();
    for (std::int64_t r = 0; r < b.batch; ++r)
        for (std::int64_t t = 0; t < b.seq_len; ++t) {
            const std::size_t i = static_cast<std::size_t>(r * b.seq_len + t);
            b.tokens.push_back(static_cast<std::int32_t>(id[i]));
            std::int32_t target = kIgnoreIndex;
            if (t + 1 < b.seq_len) {
                const std::int64_t next = labels ? labels->as<std::int64_t>()[i + 1] : id[i + 1];
                if (next != -100) target = static_cast<std::int32_t>(next);
            }
            b.targets.push_back(target);
            b.positions.push_back(static_cast<std::int32_t>(t));
            b.segments.push_back(0);
        }
    return b;
}

// "model.layers.0.self_attn.q_proj.lora_A" -> "<prefix>.base_model.model.model.layers.0...
// .lora_A.default.weight", as ref/lora's reference.safetensors names peft's tensors.
inline std::string peft_key(const std::string& prefix, const std::string& name) {
    return prefix + ".base_model.model." + name + ".default.weight";
}

inline std::vector<float> download(Backend& backend, const Tensor& t) {
    std::vector<float> v(static_cast<std::size_t>(t.numel()));
    backend.copy_to_host(t, std::as_writable_bytes(std::span(v)));
    return v;
}

// A tiny Llama configuration (C hidden 16, I 24, 4 query heads / 2 KV heads of 4, V 37), or
// a Qwen2-like one with q/k/v biases.
inline LlamaConfig tiny_config(bool qwen2, bool tied, std::int64_t layers = 2) {
    LlamaConfig c;
    c.model_type = qwen2 ? "qwen2" : "llama";
    c.architecture = qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_layers = layers;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 4;
    c.vocab_size = 37;
    c.max_position_embeddings = 64;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = qwen2 ? 1e6 : 1e4;
    c.tie_word_embeddings = tied;
    c.qkv_bias = qwen2;
    return c;
}

// Random fp32 weights under the Hugging Face names, owned by the Weights as a GGUF load's are:
// norms near 1, linear weights ~ N(0, 1/in), embeddings ~ N(0, 1).
inline Model tiny_model(const LlamaConfig& c, std::uint64_t seed) {
    Model m;
    m.name = "tiny-random";
    m.config = c;
    std::mt19937_64 rng(seed);
    for (const ExpectedTensor& e : llama_expected_tensors(c)) {
        const bool norm = e.name.ends_with("norm.weight");
        const bool bias = e.name.ends_with(".bias");
        const float sigma = norm || bias ? 0.2f
                            : e.linear   ? 1.0f / std::sqrt(static_cast<float>(e.shape.at(1)))
                                         : 1.0f;
        std::normal_distribution<float> d(norm ? 1.0f : 0.0f, sigma);
        auto bytes = std::make_shared<std::vector<std::byte>>(static_cast<std::size_t>(numel(e.shape)) * 4);
        for (std::size_t i = 0; i < bytes->size() / 4; ++i) {
            const float v = d(rng);
            std::memcpy(bytes->data() + 4 * i, &v, 4);
        }
        Weight w;
        w.shape = e.shape;
        w.view = TensorView{DType::F32, e.shape, std::span<const std::byte>(*bytes)};
        w.owned = std::move(bytes);
        m.weights.tensors.emplace(e.name, std::move(w));
    }
    check_model_weights(c, m.weights, m.name);
    return m;
}

// A tiny random Llama of `layers` layers in NF4 with rank-2 LoRA on every module, on `backend`.
struct TinyLora {
    LlamaConfig config;
    Model model;
    DeviceBaseModel base;
    LoraParameters lora;
    TinyLora(Backend& backend, std::int64_t layers, std::uint64_t seed)
        : config(tiny_config(false, false, layers)), model(tiny_model(config, seed)),
          base(backend, model, {QuantType::NF4, true, 64}), lora(backend, config, rank2()) {}

private:
    static LoraConfig rank2() {
        LoraConfig c;
        c.rank = 2;
        return c;
    }
};

// `rows` unpacked rows of `seq` tokens with a fixed pattern of ids, every fourth target ignored.
inline Batch pattern_batch(std::int64_t rows, std::int64_t seq, std::int32_t vocab) {
    Batch b;
    b.batch = rows;
    b.seq_len = seq;
    for (std::int64_t i = 0; i < rows * seq; ++i) {
        b.tokens.push_back(static_cast<std::int32_t>((i * 7 + 3) % vocab));
        b.targets.push_back(i % 4 == 0 ? kIgnoreIndex : static_cast<std::int32_t>((i * 5 + 1) % vocab));
        b.positions.push_back(static_cast<std::int32_t>(i % seq));
        b.segments.push_back(0);
    }
    return b;
}

// max |a - b| / max |b|
inline double relative_error(const std::vector<float>& a, std::span<const float> b) {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return scale > 0 ? diff / scale : diff;
}

}  // namespace qls::test
