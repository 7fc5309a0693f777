#include "core/model/device_base_model.h"

#include <algorithm>
#include <cstring>

#include "core/backend/quant4_arrays.h"
#include "core/quant/dequantize_4bit.h"
#include "core/quant/quantize_4bit.h"  // check_quant_blocksize
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

// The most bytes one tensor of the checkpoint brings (the stacked q|k|v may bring more, in more
// slot-sized pieces).
std::size_t largest_upload(const ModelWeights& weights) {
    std::size_t most = 0;
    for (const auto& [name, w] : weights.tensors) {
        most = std::max({most, w.view.data.size(), w.gguf_data.size()});
        if (w.quantized) most = std::max(most, w.quantized->packed.size());
    }
    return most;
}

}  // namespace

std::string base_quantization_label(const BaseWeightsOptions& o, const KeptGgufBlocks& kept) {
    const std::string rest = !o.quant ? "none (16-bit base)"
                                      : str_cat(quant_type_name(*o.quant), ", blocksize ", o.blocksize,
                                                o.double_quant ? ", double quant" : "");
    if (kept.types.empty()) return rest;
    const std::string own = str_cat("the GGUF's own ", kept.types, " blocks");
    if (kept.all) return own;
    return str_cat(own, "; its other linear weights ", o.quant ? rest : "16-bit");
}

DType head_dtype(DType stored, DType compute) { return compute == DType::F32 ? stored : compute; }

namespace {
constexpr const char* kLinearNames[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

bool quantized_on_load(const Weight& w, const BaseWeightsOptions& options) {
    return options.quant && !w.is_quantized() && !keeps_gguf_blocks(w, options);
}

std::size_t align256(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

// The staging buffer's layout: every weight quantized on load starts at 0, its workspace at the
// returned offset (after the largest such weight); 0 when no weight is quantized on load.
struct StagingLayout {
    std::size_t workspace = 0, bytes = 0;
};
StagingLayout staging_layout(const ModelWeights& weights, const LlamaConfig& c, const BaseWeightsOptions& o) {
    std::size_t dense = 0, workspace = 0;
    for (std::int64_t l = 0; l < c.num_layers; ++l)
        for (const char* name : kLinearNames) {
            const Weight& w = weights.get(str_cat("model.layers.", l, ".", name, ".weight"));
            if (!quantized_on_load(w, o)) continue;
            check_quant_blocksize(o.blocksize);
            dense = std::max(dense, static_cast<std::size_t>(numel(w.shape)) * dtype_size(w.view.dtype));
            workspace = std::max(workspace, static_cast<std::size_t>(quantize_weight_workspace_bytes(
                                                numel(w.shape), o.blocksize, o.double_quant)));
        }
    if (dense == 0) return {};
    return {align256(dense), align256(dense) + workspace};
}

bool dense_base(const Model& model, const BaseWeightsOptions& options) {
    if (options.quant) return false;
    for (std::int64_t l = 0; l < model.config.num_layers; ++l)
        for (const char* name : kLinearNames) {
            const Weight& w = model.weights.get(str_cat("model.layers.", l, ".", name, ".weight"));
            if (w.is_quantized() || keeps_gguf_blocks(w, options)) return false;
        }
    return true;
}
}  // namespace

bool keeps_gguf_blocks(const Weight& w, const BaseWeightsOptions& options) {
    return options.gguf_blocks && w.gguf_blocks;
}

KeptGgufBlocks kept_gguf_blocks(const ModelWeights& weights, const LlamaConfig& config,
                                const BaseWeightsOptions& options) {
    std::vector<std::string_view> types;
    KeptGgufBlocks kept;
    for (std::int64_t l = 0; l < config.num_layers; ++l)
        for (const char* name : kLinearNames) {
            const Weight& w = weights.get(str_cat("model.layers.", l, ".", name, ".weight"));
            if (!keeps_gguf_blocks(w, options)) {
                kept.all = false;
                continue;
            }
            const std::string_view type = ggml_type_info(*w.gguf_type)->name;
            if (std::find(types.begin(), types.end(), type) == types.end()) types.push_back(type);
        }
    std::sort(types.begin(), types.end());
    for (std::string_view t : types) kept.types += str_cat(kept.types.empty() ? "" : ", ", t);
    return kept;
}

bool layers_in_compute_dtype(const Model& model, const BaseWeightsOptions& options) {
    if (!dense_base(model, options)) return false;
    for (std::int64_t l = 0; l < model.config.num_layers; ++l)
        for (const char* name : kLinearNames)
            if (model.weights.get(str_cat("model.layers.", l, ".", name, ".weight")).view.dtype != options.compute)
                return false;
    return true;
}

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
    // Stacking needs every part in one dtype: only then is a dense base stacked.
    const bool dense = dense_base(model, options) && [&] {
        for (std::int64_t l = 0; l < c.num_layers; ++l) {
            const std::string p = str_cat("model.layers.", l, ".");
            const DType t = w.get(p + "self_attn.q_proj.weight").view.dtype;
            for (const char* name : kLinearNames)
                if (w.get(p + name + ".weight").view.dtype != t) return false;
        }
        return true;
    }();
    m_in_place = dense && qls::layers_in_compute_dtype(model, options);
    const StagingLayout staging = staging_layout(w, c, options);
    if (staging.bytes > 0)
        m_staging = m_backend.allocate(staging.bytes, Usage::Workspace, "4-bit quantization staging");
    m_staging_workspace = staging.workspace;
    m_upload = std::make_unique<StagedUpload>(m_backend, largest_upload(w));
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
        if (dense) {
            layer.qkv = upload_stacked(w, {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"},
                                       {&layer.q, &layer.k, &layer.v});
            layer.gate_up = upload_stacked(w, {p + "mlp.gate_proj", p + "mlp.up_proj"}, {&layer.gate, &layer.up});
        } else {
            layer.q = upload_linear(w, p + "self_attn.q_proj");
            layer.k = upload_linear(w, p + "self_attn.k_proj");
            layer.v = upload_linear(w, p + "self_attn.v_proj");
            layer.gate = upload_linear(w, p + "mlp.gate_proj");
            layer.up = upload_linear(w, p + "mlp.up_proj");
        }
        layer.o = upload_linear(w, p + "self_attn.o_proj");
        layer.down = upload_linear(w, p + "mlp.down_proj");
        m_layers.push_back(std::move(layer));
    }
    report_progress(progress, static_cast<std::size_t>(c.num_layers),
                    static_cast<std::size_t>(c.num_layers));
    m_upload.reset();      // waits for the last transfer
    m_staging = Buffer();  // after the last quantize_weight in stream order (freeing waits for the device)
}

Tensor DeviceBaseModel::upload_bytes(std::span<const std::byte> bytes, DType dtype, Shape shape,
                                     const std::string& name) {
    Buffer& b = m_storage.emplace_back(m_backend.allocate(bytes.size(), Usage::BaseWeights, name));
    Tensor t = b.view(0, dtype, std::move(shape));
    m_upload->upload(t, bytes);
    return t;
}

Tensor DeviceBaseModel::upload_dense(const Weight& w, const std::string& name, std::optional<DType> as) {
    QLS_CHECK(FormatError, !w.is_quantized(), "tensor ", name,
              " is 4-bit, but only linear layers may be quantized");
    QLS_CHECK(FormatError, w.view.dtype == DType::F32 || w.view.dtype == DType::BF16 ||
                               w.view.dtype == DType::F16,
              "tensor ", name, ": expected F32, BF16 or F16, got ", dtype_name(w.view.dtype));
    const DenseValues values = dense_values(w);
    if (!as || *as == values.view.dtype)
        return upload_bytes(values.view.data, values.view.dtype, w.shape, name);
    const std::vector<std::byte> bytes = converted(values.view, *as);
    return upload_bytes(bytes, *as, w.shape, name);
}

LinearWeight DeviceBaseModel::upload_stacked(const ModelWeights& weights, std::initializer_list<std::string> prefixes,
                                             std::initializer_list<LinearWeight*> parts) {
    std::vector<const Weight*> ws, biases;
    std::int64_t rows = 0;
    for (const std::string& p : prefixes) {
        ws.push_back(&weights.get(p + ".weight"));
        QLS_CHECK(FormatError, ws.back()->shape.size() == 2 && ws.back()->shape[1] == ws.front()->shape[1], "tensor ",
                  p, ".weight: ", ws.back()->shape, " does not stack with ", ws.front()->shape);
        rows += ws.back()->shape[0];
        if (weights.contains(p + ".bias")) biases.push_back(&weights.get(p + ".bias"));
    }
    QLS_CHECK(FormatError, biases.empty() || biases.size() == ws.size(), "tensor ", *prefixes.begin(),
              ": some of the stacked projections have a bias and some do not");
    auto stack = [&](const std::vector<const Weight*>& from, Shape shape, const std::string& name) {
        for (const Weight* x : from)
            QLS_CHECK(FormatError, x->view.dtype == DType::F32 || x->view.dtype == DType::BF16 || x->view.dtype == DType::F16,
                      "tensor ", name, ": expected F32, BF16 or F16, got ", dtype_name(x->view.dtype));
        std::vector<std::byte> bytes;
        for (const Weight* x : from) {
            const DenseValues values = dense_values(*x);
            bytes.insert(bytes.end(), values.view.data.begin(), values.view.data.end());
        }
        return upload_bytes(bytes, from.front()->view.dtype, std::move(shape), name);
    };
    LinearWeight stacked;
    stacked.in = ws.front()->shape[1];
    stacked.out = rows;
    stacked.dense = stack(ws, {rows, stacked.in}, *prefixes.begin() + " (stacked)");
    if (!biases.empty()) stacked.bias = stack(biases, {rows}, *prefixes.begin() + " bias (stacked)");
    std::int64_t first = 0;
    auto part = parts.begin();
    for (const Weight* x : ws) {
        LinearWeight& lw = **part++;
        lw.out = x->shape[0];
        lw.in = stacked.in;
        lw.dense = stacked.dense.row_slice(first, lw.out);
        if (!stacked.bias.empty()) lw.bias = stacked.bias.reshaped({rows, 1}).row_slice(first, lw.out).reshaped({lw.out});
        first += lw.out;
    }
    return stacked;
}

LinearWeight DeviceBaseModel::upload_linear(const ModelWeights& weights, const std::string& prefix) {
    const Weight& w = weights.get(prefix + ".weight");
    LinearWeight lw;
    lw.out = w.shape.at(0);
    lw.in = w.shape.at(1);
    if (weights.contains(prefix + ".bias"))
        lw.bias = upload_dense(weights.get(prefix + ".bias"), prefix + ".bias");
    if (keeps_gguf_blocks(w, m_options)) {
        lw.ggml = GgmlBlocksView{
            *w.gguf_type, upload_bytes(w.gguf_data, DType::U8,
                                       {static_cast<std::int64_t>(w.gguf_data.size())}, prefix + ".weight")};
        return lw;
    }
    if (!w.is_quantized() && !m_options.quant) {
        lw.dense = upload_dense(w, prefix + ".weight");
        return lw;
    }
    const std::string name = prefix + ".weight";
    lw.quant = w.is_quantized() ? upload_quantized(*w.quantized, name) : quantize_on_load(w, name);
    return lw;
}

Quant4View DeviceBaseModel::upload_quantized(const Quantized4bit& q, const std::string& name) {
    validate_quantized(q);
    Quant4View v;
    v.type = q.type;
    v.blocksize = q.blocksize;
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
    return v;
}

Quant4View DeviceBaseModel::quantize_on_load(const Weight& w, const std::string& name) {
    const DenseValues values = dense_values(w);  // a GGUF tensor decoded, one at a time
    const DType dt = values.view.dtype;
    QLS_CHECK(FormatError, dt == DType::F32 || dt == DType::BF16 || dt == DType::F16, "tensor ", name,
              ": 4-bit quantization takes F32, BF16 or F16, got ", dtype_name(dt));
    const std::int64_t n = numel(w.shape);
    const std::size_t bytes = static_cast<std::size_t>(n) * dtype_size(dt);
    QLS_CHECK(FormatError, n > 0 && values.view.data.size() == bytes, "tensor ", name, ": shape ", w.shape,
              " in ", dtype_name(dt), " needs ", bytes, " bytes, got ", values.view.data.size());
    const int bs = m_options.blocksize;
    const bool dq = m_options.double_quant;
    Quant4View v = allocate_quant4(m_backend, m_storage, n, *m_options.quant, bs, dq, Usage::BaseWeights, name);
    const Tensor src = m_staging.view(0, dt, w.shape);
    m_upload->upload(src, values.view.data);
    const std::int64_t ws = quantize_weight_workspace_bytes(n, bs, dq);
    const Tensor workspace = ws > 0 ? m_staging.view(m_staging_workspace, DType::U8, {ws}) : Tensor{};
    m_backend.quantize_weight(src, workspace, v);
    return v;
}

}  // namespace qls
