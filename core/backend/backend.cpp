// Shape and dtype checks of every op, done once here so that each backend's *_impl can trust
// its arguments. A failed check is a bug in the caller (QLS_ASSERT).
#include "core/backend/backend.h"

#include "core/backend/quant4_arrays.h"

namespace qls {

namespace {

bool is_float16ish(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

void check_f32(const Tensor& t, const char* what) {
    QLS_ASSERT(!t.empty() && t.dtype == DType::F32 && t.contiguous(), what, ": expected packed F32, got ",
               describe(t));
}

// An activation or activation gradient: packed, in the run's compute dtype (F32, BF16 or F16).
void check_act(const Tensor& t, const char* what) {
    QLS_ASSERT(!t.empty() && is_float16ish(t.dtype) && t.contiguous(), what,
               ": expected a packed F32/BF16/F16 activation, got ", describe(t));
}

// An activation whose rows (dimension 0) may be strided: the ops that read or write column
// blocks of a stacked activation (q|k|v, gate|up) in place.
void check_act_rows(const Tensor& t, const char* what) {
    QLS_ASSERT(!t.empty() && is_float16ish(t.dtype) && t.row_pitch() >= t.row_elements(), what,
               ": expected an F32/BF16/F16 activation, got ", describe(t));
}

// The activations of one op share one dtype (the compute dtype); empty tensors are skipped.
void check_same_dtype(std::initializer_list<const Tensor*> ts, const char* what) {
    const Tensor* first = nullptr;
    for (const Tensor* t : ts) {
        if (t->empty()) continue;
        if (!first) first = t;
        QLS_ASSERT(t->dtype == first->dtype, what, ": activations in ", dtype_name(first->dtype), " and ",
                   describe(*t));
    }
}

void check_linear(const Tensor& x, const LinearWeight* w, std::span<const LoraPart> lora, const Tensor& xa,
                  const char* op) {
    QLS_ASSERT(w != nullptr, op, ": no weight");
    check_act(x, op);
    QLS_ASSERT(x.cols() == w->in, op, ": input ", describe(x), " vs weight in=", w->in);
    if (w->ggml) {
        const GgmlTypeInfo* info = ggml_type_info(w->ggml->type);
        QLS_ASSERT(info && w->in % info->block_size == 0 &&
                       w->ggml->blocks.bytes() == std::size_t(w->out * (w->in / info->block_size) * info->type_size),
                   op, ": GGUF blocks of ", describe(w->ggml->blocks), " do not hold [", w->out, ", ", w->in, "]");
    } else if (w->quant) {
        const Quant4View& q = *w->quant;
        const std::int64_t blocks = (w->in * w->out + q.blocksize - 1) / q.blocksize;
        QLS_ASSERT(q.packed.bytes() * 2 >= static_cast<std::size_t>(w->in * w->out) && q.quant_map.numel() == 16 &&
                       (q.nested() ? q.absmax_codes.numel() == blocks && q.code_map.numel() == 256 &&
                                         q.nested_absmax.numel() == (blocks + q.nested_blocksize - 1) / q.nested_blocksize
                                   : q.absmax.numel() == blocks),
                   op, ": 4-bit weight arrays do not fit [", w->out, ", ", w->in, "] in blocks of ", q.blocksize);
    } else {
        QLS_ASSERT(is_float16ish(w->dense.dtype) && w->dense.shape == (Shape{w->out, w->in}), op,
                   ": dense weight ", describe(w->dense), " vs [", w->out, ", ", w->in, "]");
    }
    if (!w->bias.empty()) QLS_ASSERT(w->bias.numel() == w->out, op, ": bias ", describe(w->bias));
    std::int64_t ranks = 0;
    for (const LoraPart& p : lora) {
        const LoraView& l = p.view;
        QLS_ASSERT(l.a.dtype == DType::F32 && l.a.shape.size() == 2 && l.a.dim(1) == w->in, op, ": lora A ",
                   describe(l.a), " vs in=", w->in);
        QLS_ASSERT(l.b.dtype == DType::F32 && l.b.shape.size() == 2 && l.b.dim(1) == l.a.dim(0) && p.offset >= 0 &&
                       p.offset + l.b.dim(0) <= w->out,
                   op, ": lora B ", describe(l.b), " at output column ", p.offset, " of ", w->out);
        if (!l.da.empty())
            QLS_ASSERT(l.da.shape == l.a.shape && l.db.shape == l.b.shape, op, ": lora grads ", describe(l.da), " ",
                       describe(l.db));
        ranks += l.a.dim(0);
    }
    if (!xa.empty()) {
        check_f32(xa, op);
        QLS_ASSERT(xa.shape == (Shape{x.rows(), ranks}), op, ": lora_xa ", describe(xa), " for rank ", ranks);
    }
}

}  // namespace

Buffer Backend::allocate(std::size_t bytes, Usage usage, const std::string& what) {
    m_memory.on_allocate(usage, static_cast<std::int64_t>(bytes), what);
    std::byte* p = nullptr;
    try {
        p = allocate_impl(bytes, usage);
    } catch (...) {
        m_memory.on_free(usage, static_cast<std::int64_t>(bytes));
        throw;
    }
    return Buffer(this, p, bytes, usage);
}

void Backend::copy_from_host(const Tensor& dst, std::span<const std::byte> src) {
    QLS_ASSERT(src.size() == dst.bytes(), "copy_from_host: ", src.size(), " bytes into ",
               describe(dst));
    copy_from_host_impl(dst, src);
}

void Backend::copy_to_host(const Tensor& src, std::span<std::byte> dst) {
    QLS_ASSERT(dst.size() == src.bytes(), "copy_to_host: ", describe(src), " into ", dst.size(),
               " bytes");
    ++m_host_syncs;
    copy_to_host_impl(src, dst);
}

void Backend::synchronize() {
    ++m_host_syncs;
    synchronize_impl();
}

void Backend::release_op_scratch() {
    synchronize();
    release_op_scratch_impl();
}

void Backend::copy_from_host_async(Stream stream, const Tensor& dst, std::span<const std::byte> src) {
    QLS_ASSERT(src.size() == dst.bytes(), "copy_from_host_async: ", src.size(), " bytes into ",
               describe(dst));
    copy_from_host_async_impl(stream, dst, src);
}

void Backend::copy_to_host_async(Stream stream, const Tensor& src, std::span<std::byte> dst) {
    QLS_ASSERT(dst.size() == src.bytes(), "copy_to_host_async: ", describe(src), " into ",
               dst.size(), " bytes");
    copy_to_host_async_impl(stream, src, dst);
}

void Backend::wait_host(Event e) {
    ++m_host_syncs;
    wait_host_impl(e);
}

void Backend::copy(const Tensor& dst, const Tensor& src) {
    QLS_ASSERT(dst.bytes() == src.bytes() && dst.dtype == src.dtype, "copy: ", describe(src),
               " into ", describe(dst));
    copy_impl(dst, src);
}

void Backend::fill_zero(const Tensor& t) { fill_zero_impl(t); }

void Backend::linear_forward(const LinearForwardArgs& a) {
    check_linear(a.x, a.weight, a.lora, a.lora_xa, "linear_forward");
    check_act(a.out, "linear_forward out");
    QLS_ASSERT(a.out.rows() == a.x.rows() && a.out.cols() == a.weight->out,
               "linear_forward: out ", describe(a.out));
    check_same_dtype({&a.x, &a.out, &a.residual}, "linear_forward");
    if (!a.residual.empty()) {
        check_act(a.residual, "linear_forward residual");
        QLS_ASSERT(a.residual.shape == a.out.shape, "linear_forward: residual ", describe(a.residual));
    }
    linear_forward_impl(a);
}

void Backend::linear_backward(const LinearBackwardArgs& a) {
    check_linear(a.x, a.weight, a.lora, a.lora_xa, "linear_backward");
    check_act(a.dout, "linear_backward dout");
    if (!a.dx.empty()) check_act(a.dx, "linear_backward dx");
    check_same_dtype({&a.x, &a.dout, &a.dx}, "linear_backward");
    QLS_ASSERT(a.dout.rows() == a.x.rows() && a.dout.cols() == a.weight->out,
               "linear_backward: dout ", describe(a.dout));
    if (!a.dx.empty()) QLS_ASSERT(a.dx.shape == a.x.shape, "linear_backward: dx ", describe(a.dx));
    QLS_ASSERT(!a.lora_xa_ready || !a.lora_xa.empty(), "linear_backward: lora_xa ready but not given");
    linear_backward_impl(a);
}

void Backend::rmsnorm_forward(const RmsNormForwardArgs& a) {
    check_act(a.x, "rmsnorm x");
    check_act(a.out, "rmsnorm out");
    check_same_dtype({&a.x, &a.out}, "rmsnorm");
    check_f32(a.rstd, "rmsnorm rstd");
    QLS_ASSERT(a.x.shape == a.out.shape && a.weight.numel() == a.x.cols() &&
                   a.rstd.numel() == a.x.rows() && is_float16ish(a.weight.dtype),
               "rmsnorm: ", describe(a.x), " ", describe(a.weight), " ", describe(a.rstd));
    rmsnorm_forward_impl(a);
}

void Backend::rmsnorm_backward(const RmsNormBackwardArgs& a) {
    for (const Tensor* t : {&a.x, &a.dout, &a.dx}) check_act(*t, "rmsnorm_backward");
    check_same_dtype({&a.x, &a.dout, &a.dx}, "rmsnorm_backward");
    check_f32(a.rstd, "rmsnorm_backward rstd");
    QLS_ASSERT(is_float16ish(a.weight.dtype), "rmsnorm_backward: weight ", describe(a.weight));
    QLS_ASSERT(a.x.shape == a.dout.shape && a.x.shape == a.dx.shape &&
                   a.weight.numel() == a.x.cols() && a.rstd.numel() == a.x.rows(),
               "rmsnorm_backward: ", describe(a.x), " ", describe(a.dout), " ", describe(a.dx));
    rmsnorm_backward_impl(a);
}

namespace {
void check_rope(const RopeArgs& a) {
    check_act_rows(a.x, "rope x");
    QLS_ASSERT(a.x.shape.size() == 3 && a.positions.numel() == a.x.dim(0) &&
                   a.positions.dtype == DType::I32 && a.cos.shape == a.sin.shape &&
                   a.cos.cols() * 2 == a.x.dim(2) && a.cos.dtype == DType::F32 && a.sin.dtype == DType::F32,
               "rope: ", describe(a.x), " ", describe(a.positions), " ", describe(a.cos));
}
}  // namespace

void Backend::rope_forward(const RopeArgs& a) {
    check_rope(a);
    rope_impl(a, false);
}

void Backend::rope_backward(const RopeArgs& a) {
    check_rope(a);
    rope_impl(a, true);
}

namespace {
void check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu, std::int64_t max_seqlen,
                     const Tensor& out, const Tensor& lse) {
    for (const Tensor* t : {&q, &k, &v}) check_act_rows(*t, "attention");
    check_act(out, "attention out");
    check_same_dtype({&q, &k, &v, &out}, "attention");
    check_f32(lse, "attention lse");
    QLS_ASSERT(q.shape.size() == 3 && k.shape.size() == 3 && k.shape == v.shape && q.dim(0) == k.dim(0) &&
                   q.dim(2) == k.dim(2) && k.dim(1) > 0 && q.dim(1) % k.dim(1) == 0,
               "attention: q ", describe(q), " k ", describe(k), " v ", describe(v));
    QLS_ASSERT(cu.dtype == DType::I32 && cu.numel() >= 2 && max_seqlen >= 1 && max_seqlen <= q.dim(0),
               "attention: cu_seqlens ", describe(cu), " max_seqlen ", max_seqlen);
    QLS_ASSERT(out.shape == q.shape && lse.numel() == q.dim(0) * q.dim(1), "attention: out ", describe(out),
               " lse ", describe(lse));
}
}  // namespace

void Backend::attention_forward(const AttentionForwardArgs& a) {
    check_attention(a.q, a.k, a.v, a.cu_seqlens, a.max_seqlen, a.out, a.lse);
    attention_forward_impl(a);
}

void Backend::attention_backward(const AttentionBackwardArgs& a) {
    check_attention(a.q, a.k, a.v, a.cu_seqlens, a.max_seqlen, a.out, a.lse);
    for (const Tensor* t : {&a.dq, &a.dk, &a.dv}) check_act_rows(*t, "attention_backward");
    check_act(a.dout, "attention_backward dout");
    check_same_dtype({&a.q, &a.dout, &a.dq, &a.dk, &a.dv}, "attention_backward");
    QLS_ASSERT(a.dout.shape == a.q.shape && a.dq.shape == a.q.shape && a.dk.shape == a.k.shape &&
                   a.dv.shape == a.v.shape,
               "attention_backward: grads");
    attention_backward_impl(a);
}

void Backend::attention_decode(const AttentionDecodeArgs& a) {
    for (const Tensor* t : {&a.q, &a.k_cache, &a.v_cache, &a.out}) check_act(*t, "attention_decode");
    check_same_dtype({&a.q, &a.k_cache, &a.v_cache, &a.out}, "attention_decode");
    QLS_ASSERT(a.k_cache.shape.size() == 4 && a.k_cache.dim(2) > 0, "attention_decode: cache ", describe(a.k_cache));
    QLS_ASSERT(a.q.shape.size() == 4 && a.k_cache.shape.size() == 4 && a.k_cache.shape == a.v_cache.shape &&
                   a.q.dim(0) == a.k_cache.dim(0) && a.q.dim(3) == a.k_cache.dim(3) &&
                   a.q.dim(2) % a.k_cache.dim(2) == 0 && a.past >= 0 &&
                   a.past + a.q.dim(1) <= a.k_cache.dim(1) && a.out.shape == a.q.shape,
               "attention_decode: q ", describe(a.q), " cache ", describe(a.k_cache), " past ", a.past);
    attention_decode_impl(a);
}

void Backend::swiglu_forward(const SwigluForwardArgs& a) {
    for (const Tensor* t : {&a.gate, &a.up}) check_act_rows(*t, "swiglu");
    check_act(a.out, "swiglu out");
    check_same_dtype({&a.gate, &a.up, &a.out}, "swiglu");
    QLS_ASSERT(a.gate.shape == a.up.shape && a.gate.shape == a.out.shape, "swiglu: ",
               describe(a.gate), " ", describe(a.up), " ", describe(a.out));
    swiglu_forward_impl(a);
}

void Backend::swiglu_backward(const SwigluBackwardArgs& a) {
    for (const Tensor* t : {&a.gate, &a.up, &a.dgate, &a.dup}) check_act_rows(*t, "swiglu_backward");
    check_act(a.dout, "swiglu_backward dout");
    check_same_dtype({&a.gate, &a.up, &a.dout, &a.dgate, &a.dup}, "swiglu_backward");
    QLS_ASSERT(a.gate.shape == a.up.shape && a.dout.shape == a.gate.shape &&
                   a.dgate.shape == a.gate.shape && a.dup.shape == a.gate.shape,
               "swiglu_backward: shapes");
    swiglu_backward_impl(a);
}

void Backend::embedding_forward(const EmbeddingArgs& a) {
    QLS_ASSERT(a.tokens.dtype == DType::I32 && a.table.shape.size() == 2 &&
                   is_float16ish(a.table.dtype) && a.out.rows() == a.tokens.numel() &&
                   a.out.cols() == a.table.dim(1) && is_float16ish(a.out.dtype) && a.out.contiguous(),
               "embedding: ", describe(a.tokens), " ", describe(a.table), " ", describe(a.out));
    embedding_forward_impl(a);
}

void Backend::cross_entropy(const CrossEntropyArgs& a) {
    check_act(a.logits, "cross_entropy logits");
    QLS_ASSERT(a.targets.dtype == DType::I32 && a.targets.numel() == a.logits.rows() &&
                   a.losses.dtype == DType::F32 && a.losses.numel() == a.logits.rows() &&
                   (a.loss_sum.empty() || (a.loss_sum.dtype == DType::F32 && a.loss_sum.numel() == 1)),
               "cross_entropy: ", describe(a.logits), " ", describe(a.targets), " ",
               describe(a.losses), " ", describe(a.loss_sum));
    cross_entropy_impl(a);
}

void Backend::add_inplace(const Tensor& dst, const Tensor& src) {
    QLS_ASSERT(is_float16ish(dst.dtype) && dst.contiguous() && src.dtype == dst.dtype && src.contiguous() &&
                   dst.numel() == src.numel(),
               "add_inplace: ", describe(dst), " += ", describe(src));
    add_inplace_impl(dst, src);
}

namespace {
// `few` holds rows.numel() rows of `many`'s width and dtype.
void check_rows(const Tensor& many, const Tensor& rows, const Tensor& few, const char* op) {
    QLS_ASSERT(rows.dtype == DType::I32 && rows.shape.size() == 1 && many.dtype == few.dtype &&
                   many.shape.size() == 2 && few.shape.size() == 2 && few.dim(0) == rows.numel() &&
                   few.dim(1) == many.dim(1) && rows.numel() <= many.dim(0),
               op, ": ", describe(many), " rows ", describe(rows), " ", describe(few));
}
}  // namespace

void Backend::gather_rows(const Tensor& src, const Tensor& rows, const Tensor& dst) {
    check_rows(src, rows, dst, "gather_rows");
    gather_rows_impl(src, rows, dst);
}

void Backend::scatter_rows(const Tensor& src, const Tensor& rows, const Tensor& dst) {
    check_rows(dst, rows, src, "scatter_rows");
    scatter_rows_impl(src, rows, dst);
}

void Backend::clip_grad_norm(const ClipGradNormArgs& a) {
    for (const Tensor& g : a.grads) check_f32(g, "clip_grad_norm grad");
    if (!a.loss_sum.empty()) QLS_ASSERT(a.loss_sum.dtype == DType::F32 && a.loss_sum.numel() == 1,
                                        "clip_grad_norm: loss_sum ", describe(a.loss_sum));
    check_f32(a.out, "clip_grad_norm out");
    QLS_ASSERT(a.out.numel() == 5 && a.max_norm >= 0, "clip_grad_norm: out ", describe(a.out),
               " max_norm ", a.max_norm);
    clip_grad_norm_impl(a);
}

void Backend::adamw_step(const AdamWArgs& a) {
    for (const Tensor* t : {&a.param, &a.grad, &a.m, &a.v}) check_f32(*t, "adamw");
    QLS_ASSERT(a.grad.numel() == a.param.numel() &&
                   a.m.numel() == a.param.numel() && a.v.numel() == a.param.numel() && a.step >= 1,
               "adamw: ", describe(a.param), " ", describe(a.grad), " ", describe(a.m), " ",
               describe(a.v), " step ", a.step);
    if (!a.control.empty()) check_f32(a.control, "adamw control");
    QLS_ASSERT(a.control.empty() || a.control.numel() == 5, "adamw: control ", describe(a.control));
    adamw_step_impl(a);
}

void Backend::dequantize_weight(const LinearWeight& w, const Tensor& out) {
    check_act(out, "dequantize_weight out");
    QLS_ASSERT(out.numel() == w.in * w.out, "dequantize_weight: ", describe(out), " for [", w.out,
               ", ", w.in, "]");
    dequantize_weight_impl(w, out);
}

void Backend::quantize_weight(const Tensor& src, const Tensor& workspace, Quant4View& out) {
    QLS_ASSERT(!src.empty() && is_float16ish(src.dtype) && src.contiguous() && src.numel() > 0,
               "quantize_weight: expected a packed F32/BF16/F16 weight, got ", describe(src));
    QLS_ASSERT(out.blocksize >= 32 && out.blocksize <= 4096 && (out.blocksize & (out.blocksize - 1)) == 0,
               "quantize_weight: blocksize ", out.blocksize);
    const int blocksize = static_cast<int>(out.blocksize);
    const Quant4Layout l = quant4_layout(src.numel(), blocksize, out.nested());
    auto fits = [](const Tensor& t, DType dtype, std::int64_t count) {
        return !t.empty() && t.dtype == dtype && t.contiguous() && t.numel() == count;
    };
    QLS_ASSERT(fits(out.packed, DType::U8, l.packed_bytes) && fits(out.quant_map, DType::F32, 16) &&
                   (out.nested() ? out.nested_blocksize == 256 && fits(out.absmax_codes, DType::U8, l.blocks) &&
                                       fits(out.nested_absmax, DType::F32, l.nested_blocks) &&
                                       fits(out.code_map, DType::F32, 256)
                                 : fits(out.absmax, DType::F32, l.blocks)),
               "quantize_weight: 4-bit arrays do not fit ", describe(src), " in blocks of ", out.blocksize,
               out.nested() ? " (double quant)" : "");
    const std::int64_t need = quantize_weight_workspace_bytes(src.numel(), blocksize, out.nested());
    QLS_ASSERT(need == 0 || (!workspace.empty() && workspace.dtype == DType::U8 && workspace.numel() >= need),
               "quantize_weight: workspace ", describe(workspace), ", needs ", need, " bytes");
    quantize_weight_impl(src, workspace, out);
}

}  // namespace qls
