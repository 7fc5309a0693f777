// qlora compare RUN_A RUN_B [...] [--json]: runs side by side, as the Train page's comparison
// table shows them (core/train/run_comparison.h): losses, steps, throughput, memory and time,
// then the run.json settings that differ.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "core/train/run_comparison.h"

namespace qls::cli {

const char* const kCompareUsage =
    "usage: qlora compare RUN_DIR RUN_DIR [...] [--json]\n"
    "  One column per run folder (a run still training is read as far as it got): steps done,\n"
    "  final training loss (mean of the last 10 steps), best and final validation loss with\n"
    "  their steps, median tokens/s, peak device memory, training time; then every run.json\n"
    "  setting whose value is not the same in all the runs. '*' marks the best value of a row.\n"
    "  --json           print the figures and differing settings as JSON\n";

namespace {

// Terminal columns of UTF-8 text: code points ("—" is one), no wide characters in our cells.
std::size_t width(const std::string& s) {
    return std::size_t(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void print_cell(const std::string& text, std::size_t column_width) {
    std::fputs(text.c_str(), stdout);
    for (std::size_t n = width(text); n < column_width; ++n) std::fputc(' ', stdout);
}

void print_table(const RunComparison& comparison) {
    const std::vector<ComparisonRow> rows = comparison_rows(comparison);
    std::vector<std::string> header = {""};
    for (const RunSummary& r : comparison.runs) header.push_back(r.name);
    std::vector<std::size_t> widths(header.size());
    for (std::size_t i = 0; i < header.size(); ++i) widths[i] = width(header[i]);
    for (const ComparisonRow& row : rows) {
        widths[0] = std::max(widths[0], width(row.label));
        for (std::size_t i = 0; i < row.cells.size(); ++i)
            widths[i + 1] = std::max(widths[i + 1], width(row.cells[i]) + 1);  // room for the best mark
    }
    auto line = [&](const std::vector<std::string>& cells) {
        for (std::size_t i = 0; i < cells.size(); ++i) {
            if (i > 0) std::fputs("  ", stdout);
            print_cell(cells[i], i + 1 < cells.size() ? widths[i] : 0);
        }
        std::fputc('\n', stdout);
    };
    line(header);
    bool settings = false;
    for (const ComparisonRow& row : rows) {
        if (row.setting && !settings) {
            settings = true;
            std::printf("\nsettings that differ:\n");
        }
        std::vector<std::string> cells = {row.label};
        for (std::size_t i = 0; i < row.cells.size(); ++i)
            cells.push_back(std::ranges::find(row.best, i) != row.best.end() ? row.cells[i] + "*" : row.cells[i]);
        line(cells);
    }
    if (!settings) std::printf("\nevery setting is the same in all the runs\n");
}

}  // namespace

int run_compare(const std::vector<std::string>& raw) {
    const Args args(raw, {"json"}, {});
    if (args.positional().size() < 2) throw UsageError("give at least two run folders to compare");
    std::vector<std::filesystem::path> dirs(args.positional().begin(), args.positional().end());
    const RunComparison comparison = compare_runs(dirs);
    if (args.flag("json")) std::printf("%s\n", to_json(comparison).dump(2).c_str());
    else print_table(comparison);
    return 0;
}

}  // namespace qls::cli
