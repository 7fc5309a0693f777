#include "core/model/device_base_model.h"

#include <cstring>

#include "core/quant/dequantize_4bit.h"
#include "core/quant/quantize_4bit.h"
#include "core/util/half.h"

namespace qls {

namespace {

template <typename T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
    return std::as_bytes(std::span<const T>(v));
}

// The values of a float view in `to` (F32, BF16 or F16), each rounded to nearest even once.
std::vector<std::byte> converted(const TensorView& v, DType to) {
    const std::vector<float> f = to_f32(v);
    std::vector<std::byte> out(f.size() * dtype_size(to));
    if (to == DType::F32) {
        std::memcpy(out.data(), f.data(), out.size());
        return out;
    }
    auto* o = reinterpret_cast<std::uint16_t*>(out.data());
    for (std::size_t i = 0; i < f.size(); ++i) o[i] = to == DType::BF16 ? f32_to_bf16(f[i]) : f32_to_f16(f[i]);
    return out;
}

}  // namespace

DType head_dtype(DType stored, DType compute) { return compute == DType::F32 ? stored : compute; }

bool parse_base_quant(std::string_view name, std::optional<QuantType>& quant) {
    if (name == "none") quant.reset();
    else if (name == quant_type_name(QuantType::NF4)) quant = QuantType::NF4;
    else if (name == quant_type_name(QuantType::FP4)) quant = QuantType::FP4;
    else return false;
    return true;
}

DeviceBaseModel::DeviceBaseModel(Backend& backend, const Model& model,
                                 const BaseWeightsOptions& options, const ProgressFn& progress)
    : m_backend(backend), m_config(model.config), m_options(options) {
    const ModelWeights& w = model.weights;
    const LlamaConfig& c = m_config;
    const Weight& embed = w.get("model.embed_tokens.weight");
    m_embed = upload_dense(embed, "embed_tokens", head_dtype(embed.view.dtype, options.compute));
    m_final_norm = upload_dense(w.get("model.norm.weight"), "model.norm");
    m_lm_head.in = c.hidden_size;
    m_lm_head.out = c.vocab_size;
    if (c.tie_word_embeddings) {
        m_lm_head.dense = m_embed;
    } else {
        const Weight& head = w.get("lm_head.weight");
        m_lm_head.dense = upload_dense(head, "lm_head", head_dtype(head.view.dtype, options.compute));
    }
    for (std::int64_t l = 0; l < c.num_layers; ++l) {
        report_progress(progress, static_cast<std::size_t>(l), static_cast<std::size_t>(c.num_layers));
        const std::string p = str_cat("model.layers.", l, ".");
        DeviceLayer layer;
        layer.attn_norm = upload_dense(w.get(p + "input_layernorm.weight"), p + "input_layernorm");
        layer.mlp_norm = upload_dense(w.get(p + "post_attention_layernorm.weight"),
                                      p + "post_attention_layernorm");
        layer.q = upload_linear(w, p + "self_attn.q_proj");
        layer.k = upload_linear(w, p + "self_attn.k_proj");
        layer.v = upload_linear(w, p + "self_attn.v_proj");
        layer.o = upload_linear(w, p + "self_attn.o_proj");
        layer.gate = upload_linear(w, p + "mlp.gate_proj");
        layer.up = upload_linear(w, p + "mlp.up_proj");
        layer.down = upload_linear(w, p + "mlp.down_proj");
        m_layers.push_back(std::move(layer));
    }
    report_progress(progress, static_cast<std::size_t>(c.num_layers),
                    static_cast<std::size_t>(c.num_layers));
}

Tensor DeviceBaseModel::upload_bytes(std::span<const std::byte> bytes, DType dtype, Shape shape,
                                     const std::string& name) {
    Buffer& b = m_storage.emplace_back(m_backend.allocate(bytes.size(), Usage::BaseWeights, name));
    Tensor t = b.view(0, dtype, std::move(shape));
    m_backend.copy_from_host(t, bytes);
    return t;
}

Tensor DeviceBaseModel::upload_dense(const Weight& w, const std::string& name, std::optional<DType> as) {
    QLS_CHECK(FormatError, !w.is_quantized(), "tensor ", name,
              " is 4-bit, but only linear layers may be quantized");
    QLS_CHECK(FormatError, w.view.dtype == DType::F32 || w.view.dtype == DType::BF16 ||
                               w.view.dtype == DType::F16,
              "tensor ", name, ": expected F32, BF16 or F16, got ", dtype_name(w.view.dtype));
    if (!as || *as == w.view.dtype) return upload_bytes(w.view.data, w.view.dtype, w.shape, name);
    const std::vector<std::byte> bytes = converted(w.view, *as);
    return upload_bytes(bytes, *as, w.shape, name);
}

LinearWeight DeviceBaseModel::upload_linear(const ModelWeights& weights, const std::string& prefix) {
    const Weight& w = weights.get(prefix + ".weight");
    LinearWeight lw;
    lw.out = w.shape.at(0);
    lw.in = w.shape.at(1);
    if (weights.contains(prefix + ".bias"))
        lw.bias = upload_dense(weights.get(prefix + ".bias"), prefix + ".bias");
    if (!w.is_quantized() && !m_options.quant) {
        lw.dense = upload_dense(w, prefix + ".weight");
        return lw;
    }
    const Quantized4bit q = w.is_quantized()
                                ? *w.quantized
                                : quantize_4bit(w.view, *m_options.quant, m_options.blocksize,
                                                m_options.double_quant);
    validate_quantized(q);
    Quant4View v;
    v.type = q.type;
    v.blocksize = q.blocksize;
    const std::string name = prefix + ".weight";
    v.packed = upload_bytes(bytes_of(q.packed), DType::U8, {static_cast<std::int64_t>(q.packed.size())}, name);
    const std::array<float, 16> values = dequant_values(q);
    v.quant_map = upload_bytes(std::as_bytes(std::span(values)), DType::F32, {16}, name + " quant_map");
    if (q.nested) {
        const NestedAbsmax& n = *q.nested;
        v.absmax_codes = upload_bytes(bytes_of(n.codes), DType::U8,
                                      {static_cast<std::int64_t>(n.codes.size())}, name + " absmax");
        v.nested_absmax = upload_bytes(bytes_of(n.absmax), DType::F32,
                                       {static_cast<std::int64_t>(n.absmax.size())}, name + " absmax");
        v.code_map = upload_bytes(bytes_of(n.code_map), DType::F32,
                                  {static_cast<std::int64_t>(n.code_map.size())}, name + " code map");
        v.offset = n.offset;
        v.nested_blocksize = n.blocksize;
    } else {
        v.absmax = upload_bytes(bytes_of(q.absmax), DType::F32,
                                {static_cast<std::int64_t>(q.absmax.size())}, name + " absmax");
    }
    lw.quant = std::move(v);
    return lw;
}

}  // namespace qls
