// What `qlora inspect` and the studio's Model page show about a base model: architecture,
// parameter count, tokenizer, weight memory under each storage scheme and the per-layer
// NF4 / NF4+DQ / FP4 error table.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/inspect/quant_error_table.h"
#include "core/inspect/stored_types.h"
#include "core/inspect/weight_memory.h"
#include "core/model/model_layout.h"
#include "core/model/model_loader.h"

namespace qls {

struct TokenizerInfo {
    std::string kind;  // "byte-level BPE", "SentencePiece BPE"
    int vocab_size = 0;
    std::string bos, eos, pad;  // token strings, empty when unset
    bool add_bos = false;
    std::string chat_template_family;  // "Llama-3", "ChatML", ... ; "none" without a template
};

struct ModelReport {
    std::string path;
    std::string name;
    std::string format;  // model_format_name
    LlamaConfig config;
    std::int64_t parameters = 0;
    std::vector<StoredType> storage;  // what the file holds, the most parameters first
    std::optional<TokenizerInfo> tokenizer;
    std::string tokenizer_error;  // why the tokenizer could not be read, when it could not
    std::vector<WeightMemory> memory;
    std::optional<QuantErrorTable> errors;
};

struct InspectOptions {
    bool error_table = true;
    int blocksize = 64;
};

// The family a chat template belongs to, from the markers it writes ("ChatML" for
// <|im_start|>, "Llama-3" for <|start_header_id|>, "Llama-2/Mistral" for [INST], ...).
std::string chat_template_family(std::string_view chat_template);

ModelReport inspect_model(const Model& model, const InspectOptions& options = {},
                          const ProgressFn& progress = {});

// A model described by config.json alone (weights not downloaded): the summary, the tokenizer
// when its files are there, storage as the config says, weight memory; no error table.
ModelReport inspect_config_only(const ModelLayout& layout, const InspectOptions& options = {});

nlohmann::json to_json(const ModelReport& report);

}  // namespace qls
