// qlora inspect MODEL [--json] [--no-errors] [--blocksize N]
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "app/cli_progress.h"
#include "app/cli_format.h"
#include "core/inspect/model_report.h"

namespace qls::cli {

const char* const kInspectUsage =
    "usage: qlora inspect MODEL [--json] [--no-errors] [--blocksize N]\n"
    "  MODEL        a Hugging Face model folder, a bitsandbytes 4-bit folder or a .gguf file\n"
    "  --json       print the report as JSON\n"
    "  --no-errors  skip the per-tensor NF4 / NF4+DQ / FP4 error table (it quantizes every weight)\n"
    "  --blocksize  quantization block size for the table and the memory estimates (default 64)\n";

namespace {

std::string fmt(const char* f, double v) {
    if (!std::isfinite(v)) return "inf";
    char buf[32];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

void print_summary(const ModelReport& r) {
    const auto& c = r.config;
    std::printf("Model       %s  (%s)\n", r.path.c_str(), r.format.c_str());
    std::printf("Arch        %s (%s): %lld layers, hidden %lld, MLP %lld, %lld heads (%lld KV, head dim %lld), vocab %lld\n",
                c.architecture.c_str(), c.model_type.c_str(), (long long)c.num_layers, (long long)c.hidden_size,
                (long long)c.intermediate_size, (long long)c.num_heads, (long long)c.num_kv_heads,
                (long long)c.head_dim, (long long)c.vocab_size);
    static const char* kRope[] = {"", ", linear scaling x", ", llama3 scaling x"};
    const bool scaled = c.rope_scaling.type != RopeType::Default;
    std::printf("Context     %lld tokens; RoPE theta %g%s%s%s\n", (long long)c.max_position_embeddings,
                c.rope_theta, kRope[int(c.rope_scaling.type)], scaled ? fmt("%g", c.rope_scaling.factor).c_str() : "",
                c.qkv_bias ? "; q/k/v biases" : "");
    std::printf("Parameters  %s%s, stored as %s\n", format_count(r.parameters).c_str(),
                c.tie_word_embeddings ? " (tied embeddings)" : "", stored_types_text(r.storage).c_str());
    if (c.quantization)
        std::printf("Quantized   %s%s by bitsandbytes, compute dtype %s\n",
                    std::string(quant_type_name(c.quantization->quant_type)).c_str(),
                    c.quantization->double_quant ? " + double quant" : "", c.quantization->compute_dtype.c_str());
    if (r.tokenizer) {
        const auto& t = *r.tokenizer;
        std::printf("Tokenizer   %s, %d tokens; bos %s, eos %s%s; chat template: %s\n", t.kind.c_str(), t.vocab_size,
                    t.bos.empty() ? "-" : t.bos.c_str(), t.eos.empty() ? "-" : t.eos.c_str(),
                    t.add_bos ? " (bos added)" : "", t.chat_template_family.c_str());
    } else {
        std::printf("Tokenizer   unavailable: %s\n", r.tokenizer_error.c_str());
    }
}

void print_memory(const ModelReport& r) {
    std::printf("\nWeight memory   %12s %14s %14s  %s\n", "total", "linear", "other (16-bit)", "bits/param (linear)");
    for (const auto& m : r.memory)
        std::printf("  %-13s %12s %14s %14s  %.3f\n", std::string(weight_scheme_name(m.scheme)).c_str(),
                    format_bytes(m.total_bytes()).c_str(), format_bytes(m.linear_bytes).c_str(),
                    format_bytes(m.other_bytes).c_str(), m.linear_bits_per_param());
}

void print_errors(const QuantErrorTable& t) {
    std::printf("\nQuantization error per tensor (block %d)\n", t.blocksize);
    if (!t.note.empty()) {
        std::printf("  %s\n", t.note.c_str());
        return;
    }
    std::printf("  %-40s %-12s | %-27s | %-27s | %-27s\n", "", "", "NF4", "NF4+DQ", "FP4");
    std::printf("  %-40s %-12s |", "tensor", "shape");
    for (int i = 0; i < 3; ++i) std::printf(" %9s %8s %7s |", "MSE", "max", "SNR dB");
    std::printf("\n");
    auto cols = [](const QuantErrorSummary& s) {
        std::printf(" %9s %8s %7s |", fmt("%.3e", s.mse).c_str(), fmt("%.4f", s.max_abs_error).c_str(),
                    fmt("%.2f", s.snr_db).c_str());
    };
    for (const auto& row : t.rows) {
        std::string shape = std::to_string(row.shape.at(0)) + "x" + std::to_string(row.shape.at(1));
        std::printf("  %-40s %-12s |", row.name.c_str(), shape.c_str());
        cols(row.nf4);
        cols(row.nf4_dq);
        cols(row.fp4);
        std::printf("\n");
    }
    std::printf("  %-40s %-12s |", "all linear weights", "");
    cols(t.total_nf4);
    cols(t.total_nf4_dq);
    cols(t.total_fp4);
    std::printf("\n  bits/param: NF4 %.3f, NF4+DQ %.3f, FP4 %.3f\n", t.total_nf4.bits_per_param,
                t.total_nf4_dq.bits_per_param, t.total_fp4.bits_per_param);
    std::printf("  %s\n", t.verdict.c_str());
}

}  // namespace

int run_inspect(const std::vector<std::string>& args) {
    const Args a(args, {"json", "no-errors"}, {"blocksize"});
    a.expect_positional(1);
    InspectOptions options;
    options.error_table = !a.flag("no-errors");
    if (auto bs = a.option("blocksize")) {
        try {
            options.blocksize = std::stoi(*bs);
        } catch (const std::exception&) {
            throw UsageError("--blocksize needs an integer, got '" + *bs + "'");
        }
    }
    const Model model = load_model(a.positional()[0]);
    const ModelReport report = inspect_model(model, options, terminal_progress("measuring quantization error"));
    if (a.flag("json")) {
        std::cout << to_json(report).dump(2) << "\n";
        return 0;
    }
    print_summary(report);
    print_memory(report);
    if (report.errors) print_errors(*report.errors);
    return 0;
}

}  // namespace qls::cli
