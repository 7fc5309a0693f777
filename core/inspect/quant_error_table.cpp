#include "core/inspect/quant_error_table.h"

#include <cmath>
#include <regex>
#include <set>

#include "core/model/llama_tensors.h"
#include "core/quant/quant_error.h"

namespace qls {

namespace {

QuantErrorSummary summarize(const QuantErrorStats& s) {
    return {s.mse, s.max_abs_error, s.snr_db, s.bits_per_param};
}

// Running sums that give the model-wide figures exactly: sum err^2 = mse * n and
// sum x^2 = sum err^2 * 10^(snr/10).
struct Totals {
    double err2 = 0, signal2 = 0, bits = 0, max_err = 0;
    std::int64_t n = 0;
    void add(const QuantErrorSummary& s, std::int64_t numel) {
        const double e = s.mse * double(numel);
        err2 += e;
        signal2 += std::isfinite(s.snr_db) ? e * std::pow(10.0, s.snr_db / 10.0) : 0.0;
        bits += s.bits_per_param * double(numel);
        max_err = std::max(max_err, s.max_abs_error);
        n += numel;
    }
    QuantErrorSummary summary() const {
        if (n == 0) return {};
        return {err2 / double(n), max_err,
                err2 > 0 ? 10.0 * std::log10(signal2 / err2) : INFINITY, bits / double(n)};
    }
};

std::string verdict(const QuantErrorTable& t) {
    int nf4_wins = 0;
    for (const auto& r : t.rows) nf4_wins += r.nf4.mse < r.fp4.mse;
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "NF4 has lower error than FP4 on %d of %zu tensors (SNR %.2f dB vs %.2f dB); "
                  "double quantization saves %.3f bits/param for %.3f dB.",
                  nf4_wins, t.rows.size(), t.total_nf4.snr_db, t.total_fp4.snr_db,
                  t.total_nf4.bits_per_param - t.total_nf4_dq.bits_per_param,
                  t.total_nf4.snr_db - t.total_nf4_dq.snr_db);
    return buf;
}

void stored_as(const Weight& w, TensorQuantRow& row) {
    if (w.gguf_type) {
        const GgmlTypeInfo* info = ggml_type_info(*w.gguf_type);
        row.stored = std::string(info->name);
        row.stored_bits = 8.0 * double(info->type_size) / double(info->block_size);
    } else {
        row.stored = std::string(dtype_name(w.view.dtype));
        row.stored_bits = 8.0 * double(dtype_size(w.view.dtype));
    }
}

void name_parts(TensorQuantRow& row) {
    static const std::regex re(R"(^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.weight$)");
    std::smatch m;
    if (std::regex_match(row.name, m, re)) {
        row.layer = std::stoll(m[1]);
        row.module = m[2];
    }
}

}  // namespace

QuantErrorTable quant_error_table(const Model& model, int blocksize, const ProgressFn& progress) {
    QuantErrorTable t;
    t.blocksize = blocksize;
    std::vector<std::string> names;
    for (const auto& e : llama_expected_tensors(model.config))
        if (e.linear) names.push_back(e.name);
    if (model.weights.format == ModelFormat::BnbPrequantized) {
        t.note = "the weights are stored pre-quantized by bitsandbytes; the originals are not in the "
                 "checkpoint, so there is nothing to measure the error against";
        return t;
    }
    HistogramSpec spec;  // the table needs no histograms: keep them tiny
    spec.normalized_bins = 1;
    spec.error_bins = 1;
    Totals nf4, dq, fp4;
    double stored_bits = 0.0;
    std::int64_t params = 0;
    std::set<std::string> kept;  // GGUF block types a run would train on unchanged
    for (std::size_t i = 0; i < names.size(); ++i) {
        report_progress(progress, i, names.size());
        const Weight& w = model.weights.get(names[i]);
        TensorQuantRow row;
        row.name = names[i];
        row.shape = w.shape;
        name_parts(row);
        stored_as(w, row);
        const auto variants = with_context("while measuring '" + names[i] + "'", [&] {
            return compare_quant_variants(dense_values(w).view, blocksize, spec);
        });
        for (const auto& v : variants) {
            auto& slot = v.type == QuantType::FP4 ? row.fp4 : v.double_quant ? row.nf4_dq : row.nf4;
            slot = summarize(v.stats);
        }
        const std::int64_t n = numel(w.shape);
        nf4.add(row.nf4, n);
        dq.add(row.nf4_dq, n);
        fp4.add(row.fp4, n);
        stored_bits += row.stored_bits * double(n);
        params += n;
        if (w.gguf_blocks) kept.insert(row.stored);
        t.rows.push_back(std::move(row));
    }
    report_progress(progress, names.size(), names.size());
    t.total_nf4 = nf4.summary();
    t.total_nf4_dq = dq.summary();
    t.total_fp4 = fp4.summary();
    t.total_stored_bits = params ? stored_bits / double(params) : 0.0;
    t.verdict = verdict(t);
    if (!kept.empty()) {
        std::string types;
        for (const std::string& k : kept) types += (types.empty() ? "" : ", ") + k;
        char bits[32];
        std::snprintf(bits, sizeof bits, "%.2f", t.total_stored_bits);
        t.verdict = "A run trains on the GGUF's own " + types + " blocks (" + bits +
                    " bits/param over the linear weights), adding no error to the file's weights; the "
                    "columns are what re-quantizing them would add. " + t.verdict;
    }
    return t;
}

}  // namespace qls
