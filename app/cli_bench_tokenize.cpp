// `qlora bench tokenize PATH [--text FILE] [--reps R]`: encode throughput in MB/s of UTF-8
// input, on one thread and on all threads (the text split at line boundaries into ~64 KiB
// chunks). It validates before timing: the parallel ids must equal the single-thread ids.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "app/cli_timing.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "core/util/parallel.h"

namespace qls::cli {
namespace {

// The fixture corpus: the texts of expected.json beside a tokenizer.json, if there is one.
std::string fixture_text(const std::filesystem::path& tokenizer_path) {
    const auto dir = std::filesystem::is_directory(tokenizer_path) ? tokenizer_path : tokenizer_path.parent_path();
    const auto expected = dir / "expected.json";
    if (!std::filesystem::exists(expected))
        throw UsageError("no --text given and no expected.json beside the tokenizer");
    std::string text;
    const auto doc = nlohmann::json::parse(read_text_file(expected));
    for (const auto& c : doc.at("cases")) text += c.at("text").get<std::string>() + "\n";
    return text;
}

// Chunks of about `target` bytes ending at a newline.
std::vector<std::string_view> chunk_lines(std::string_view text, std::size_t target) {
    std::vector<std::string_view> out;
    std::size_t begin = 0;
    while (begin < text.size()) {
        std::size_t end = std::min(text.size(), begin + target);
        const std::size_t nl = text.find('\n', end);
        end = nl == std::string_view::npos ? text.size() : nl + 1;
        out.push_back(text.substr(begin, end - begin));
        begin = end;
    }
    return out;
}

}  // namespace

int run_bench_tokenize(const std::vector<std::string>& args) {
    const Args a(args, {}, {"text", "reps"});
    a.expect_positional(1);
    const std::filesystem::path path = a.positional()[0];
    const int reps = std::max(1, std::stoi(a.option("reps").value_or("5")));
    const Tokenizer tok = load_tokenizer(path);
    const std::string seed = a.option("text") ? read_text_file(*a.option("text")) : fixture_text(path);
    QLS_CHECK(DataError, !seed.empty(), "the benchmark text is empty");
    std::string text;
    while (text.size() < (8u << 20)) text += seed;  // at least 8 MiB for stable timings
    const auto chunks = chunk_lines(text, 64 << 10);

    std::vector<std::vector<int>> single(chunks.size()), multi(chunks.size());
    auto run_single = [&] {
        for (std::size_t i = 0; i < chunks.size(); ++i) single[i] = tok.encode(chunks[i], false);
    };
    auto run_multi = [&] {
        parallel_for(chunks.size(), 1, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) multi[i] = tok.encode(chunks[i], false);
        });
    };
    run_single();
    run_multi();
    QLS_CHECK(InternalError, single == multi, "parallel encode differs from single-thread encode");
    std::size_t n_ids = 0;
    for (const auto& v : single) n_ids += v.size();

    const double t1 = best_seconds(reps, run_single);
    const double tn = best_seconds(reps, run_multi);
    const double mb = static_cast<double>(text.size()) / 1e6;
    std::printf("tokenizer  %s (%s)\n", path.string().c_str(), tok.summary().c_str());
    std::printf("text       %.1f MB, %zu chunks, %zu tokens (%.2f bytes/token)\n", mb, chunks.size(), n_ids,
                static_cast<double>(text.size()) / static_cast<double>(n_ids));
    std::printf("1 thread   %8.2f MB/s  %10.0f tokens/s\n", mb / t1, static_cast<double>(n_ids) / t1);
    std::printf("%zu threads %8.2f MB/s  %10.0f tokens/s  (%.2fx)\n", num_threads(), mb / tn,
                static_cast<double>(n_ids) / tn, t1 / tn);
    return 0;
}

}  // namespace qls::cli
