#include "core/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "core/data/seeded_permutation.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "core/util/parallel.h"

namespace qls {
namespace {

struct Outcome {
    std::optional<TokenizedExample> example;
    std::string reason;  // why not, when example is empty
};

struct Source {
    std::string name;
    std::vector<RawRecord> records;
    std::vector<DataIssue> read_issues;  // lines that gave no record, merged in line order
};

Source read_source(const std::filesystem::path& path, FileFormat format) {
    IssueLog read_log(BadDataPolicy::Skip);
    std::vector<RawRecord> records = read_records(path, format, read_log);
    return {path.string(), std::move(records), read_log.take()};
}

void validate(const DatasetOptions& o) {
    QLS_CHECK(ConfigError, o.max_seq_len >= 2, "max_seq_len must be at least 2 tokens, got ", o.max_seq_len);
    QLS_CHECK(ConfigError, o.valid_fraction >= 0.0 && o.valid_fraction < 1.0,
              "valid_fraction must be in [0, 1), got ", o.valid_fraction);
    QLS_CHECK(ConfigError, !o.path.empty(), "no dataset file chosen");
}

// Truncation and the checks that need the token count.
Outcome finish(TokenizedExample ex, const DatasetOptions& o) {
    const std::size_t n = ex.ids.size();
    if (ex.trained_tokens() == 0) return {std::nullopt, "no token to train: the template left every response masked"};
    if (n > o.max_seq_len) {
        if (o.overlong == OverlongPolicy::Drop)
            return {std::nullopt, str_cat("over-long: ", n, " tokens, max_seq_len is ", o.max_seq_len)};
        ex.ids.resize(o.max_seq_len);
        ex.trained.resize(o.max_seq_len);
        ex.truncated = true;
        if (ex.trained_tokens() == 0)
            return {std::nullopt, str_cat("over-long: ", n, " tokens, and no response token lies within max_seq_len ",
                                          o.max_seq_len)};
    }
    return {std::move(ex), {}};
}

Outcome process(const RawRecord& r, DataForm form, const ChatFormat& format, const DatasetOptions& o) {
    try {
        TokenizedExample ex = format.tokenize(to_conversation(r.value, form, o.mapping), o.train_on_inputs);
        ex.line = r.line;
        return finish(std::move(ex), o);
    } catch (const DataError& e) {
        return {std::nullopt, e.message()};
    }
}

// Every record of every source, in blocks: parallel within a block, issues and progress in
// record order after it, so Stop reports the first bad record and results never depend on the
// thread count.
void process_all(std::vector<Source>& sources, const std::vector<std::uint8_t>& to_valid, DataForm form,
                 const ChatFormat& format, const DatasetOptions& o, IssueLog& log, const ProgressFn& progress,
                 PreparedDataset& out) {
    std::size_t total = 0, done = 0;
    for (const Source& s : sources) total += s.records.size();
    constexpr std::size_t kBlock = 512;
    for (std::size_t si = 0; si < sources.size(); ++si) {
        const std::vector<RawRecord>& records = sources[si].records;
        std::vector<DataIssue>& read_issues = sources[si].read_issues;
        std::size_t next_read_issue = 0;
        auto read_issues_before = [&](std::size_t line) {
            while (next_read_issue < read_issues.size() && read_issues[next_read_issue].line < line)
                log.add(std::move(read_issues[next_read_issue++]));
        };
        std::vector<Outcome> outcomes;
        for (std::size_t b = 0; b < records.size(); b += kBlock) {
            const std::size_t e = std::min(records.size(), b + kBlock);
            outcomes.assign(e - b, {});
            parallel_for(e - b, 8, [&](std::size_t lo, std::size_t hi) {
                for (std::size_t i = lo; i < hi; ++i) outcomes[i] = process(records[b + i], form, format, o);
            });
            for (std::size_t i = b; i < e; ++i) {
                Outcome& oc = outcomes[i - b];
                read_issues_before(records[i].line);
                if (!oc.example) {
                    log.add(DataIssue{sources[si].name, records[i].line, records[i].element, std::move(oc.reason)});
                    continue;
                }
                const bool valid = si == 1 || (si == 0 && !to_valid.empty() && to_valid[i]);
                (valid ? out.valid : out.train).push_back(std::move(*oc.example));
            }
            done += e - b;
            report_progress(progress, done, total);
        }
        read_issues_before(std::numeric_limits<std::size_t>::max());
    }
}

// Which records of the training file go to validation: the first round(f * n) of a seeded order.
std::vector<std::uint8_t> split_marks(std::size_t n, double fraction, std::uint64_t seed) {
    std::vector<std::uint8_t> marks(n, 0);
    std::size_t n_valid = std::size_t(std::llround(fraction * double(n)));
    if (fraction > 0.0 && n >= 2) n_valid = std::clamp<std::size_t>(n_valid, 1, n - 1);
    const std::vector<std::size_t> order = seeded_permutation(n, seed);
    for (std::size_t i = 0; i < n_valid && i < n; ++i) marks[order[i]] = 1;
    return marks;
}

}  // namespace

PreparedDataset prepare_dataset(const DatasetOptions& o, const Tokenizer& tokenizer, std::string_view chat_template,
                                const ProgressFn& progress) {
    validate(o);
    const ChatFormat format(o.chat_template, tokenizer, chat_template);
    IssueLog log(o.bad_policy);
    std::vector<Source> sources;
    sources.push_back(read_source(o.path, o.file_format));
    if (!o.valid_path.empty()) sources.push_back(read_source(o.valid_path, o.file_format));

    PreparedDataset out;
    if (sources[0].records.empty()) {
        const std::vector<DataIssue>& bad = sources[0].read_issues;
        if (!bad.empty()) log.add(bad.front());  // Stop: the first issue is the error
        throw DataError(str_cat(sources[0].name, ": no usable training example (no record could be read",
                                bad.empty() ? std::string() : "; first issue: " + bad.front().to_string(), ")"));
    }
    out.form = o.form != DataForm::Auto ? o.form : detect_form(sources[0].records, o.mapping, sources[0].name);
    const std::vector<std::uint8_t> to_valid =
        o.valid_path.empty() ? split_marks(sources[0].records.size(), o.valid_fraction, o.seed) : std::vector<std::uint8_t>{};
    process_all(sources, to_valid, out.form, format, o, log, progress, out);

    out.issues = log.take();
    DatasetStats& st = out.stats;
    for (const Source& s : sources) {
        st.records += s.records.size();
        st.unreadable += s.read_issues.size();  // moved into the log, still counted
    }
    st.dropped = out.issues.size();
    st.rejected = st.dropped - st.unreadable;
    st.max_seq_len = o.max_seq_len;
    st.train = split_stats(out.train);
    st.valid = split_stats(out.valid);
    st.histogram = length_histogram(out.train, out.valid, o.max_seq_len);
    QLS_CHECK(DataError, !out.train.empty(), o.path.string(), ": no usable training example (", st.records,
              " records read, ", out.issues.size(), " issues",
              out.issues.empty() ? std::string() : "; first: " + out.issues.front().to_string(), ")");
    return out;
}

}  // namespace qls
