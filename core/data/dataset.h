// prepare_dataset: from a dataset file to tokenized, masked, truncated and split examples, with
// the issues found and the statistics the GUI shows. Runs before training; refuses a dataset
// with no usable example.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "core/data/chat_format.h"
#include "core/data/data_issue.h"
#include "core/data/dataset_reader.h"
#include "core/data/dataset_stats.h"
#include "core/data/record_form.h"
#include "core/util/progress.h"

namespace qls {

class Tokenizer;

enum class OverlongPolicy {
    Truncate,  // keep the first max_seq_len tokens (an issue only if no trained token is left)
    Drop,      // an example longer than max_seq_len is an issue
};

struct DatasetOptions {
    std::filesystem::path path;
    std::filesystem::path valid_path;  // empty: split valid_fraction off `path`
    FileFormat file_format = FileFormat::Auto;
    DataForm form = DataForm::Auto;
    FieldMapping mapping;
    TemplateKind chat_template = TemplateKind::ModelTemplate;
    bool train_on_inputs = false;
    std::size_t max_seq_len = 512;  // tokens, BOS and end-of-turn included
    OverlongPolicy overlong = OverlongPolicy::Truncate;
    bool packing = false;         // for the sampler (batch_sampler.h); prepare_dataset ignores it
    double valid_fraction = 0.05;  // of `path`'s records, when valid_path is empty
    std::uint64_t seed = 0;        // the split
    BadDataPolicy bad_policy = BadDataPolicy::Skip;
};

struct PreparedDataset {
    std::vector<TokenizedExample> train, valid;  // in file order
    DataForm form = DataForm::Auto;              // as detected or chosen
    DatasetStats stats;
    std::vector<DataIssue> issues;  // Skip policy: every record left out, and why
};

// Reads, converts, renders, tokenizes and splits. `chat_template` replaces the tokenizer's
// own for TemplateKind::ModelTemplate when not empty. Throws ConfigError for impossible options
// or a template the tokenizer cannot serve, DataError at the first issue under
// BadDataPolicy::Stop and when no usable training example remains, IoError when a file
// cannot be read, Cancelled when progress says stop. The validation split is chosen among the
// records read (seeded), so it does not move when max_seq_len or the template change.
PreparedDataset prepare_dataset(const DatasetOptions& options, const Tokenizer& tokenizer,
                                std::string_view chat_template = {}, const ProgressFn& progress = {});

}  // namespace qls
