// The tokenizer facade: HF tokenizer.json semantics (formats.md §8) for encode and decode, plus
// the tokenizer_config.json settings. Built by tokenizer_json (tokenizer.json),
// tokenizer_from_gguf (GGUF metadata) or load_tokenizer (a file or model folder).
// Encode and decode are const and safe to call from many threads at once.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/added_vocabulary.h"
#include "core/tokenizer/decoder.h"
#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/post_processor.h"
#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/tokenizer_config.h"
#include "core/tokenizer/vocab.h"

namespace qls {

class Tokenizer {
public:
    struct Parts {
        std::unique_ptr<TokenModel> model;
        Normalizer normalizer;
        PreTokenizer pre_tokenizer;
        Decoder decoder;
        PostProcessor post_processor;
        AddedVocabulary added;
        std::string kind;  // "byte-level BPE", "SentencePiece BPE", ...
    };
    explicit Tokenizer(Parts parts);

    // tokenizer.json text; `source_name` names it in errors.
    static Tokenizer from_json_string(std::string_view json_text, std::string_view source_name);

    // Text -> ids. add_special_tokens applies the post-processor (e.g. prepends BOS). Special
    // tokens written in the text are always recognised, as HF does. Throws DataError when the
    // text is not valid UTF-8 (naming the byte offset).
    std::vector<int> encode(std::string_view text, bool add_special_tokens) const;
    // Ids -> text (skip_special_tokens drops special added tokens). DataError on an unknown id.
    std::string decode(std::span<const int> ids, bool skip_special_tokens = false) const;

    int vocab_size() const;  // one past the largest id of the model or the added tokens
    std::optional<int> token_to_id(std::string_view token) const;
    std::string id_to_token(int id) const;  // DataError on an unknown id
    bool is_special(int id) const;

    // tokenizer_config.json: token strings resolve to ids through the vocab and added tokens.
    void apply_config(const TokenizerConfig& config);
    const TokenizerConfig& config() const { return m_config; }
    std::optional<int> bos_id() const { return m_bos; }
    std::optional<int> eos_id() const { return m_eos; }
    std::optional<int> pad_id() const { return m_pad; }
    std::optional<int> unk_id() const { return m_unk; }
    // Store a config whose ids were set with set_special_ids (GGUF).
    void set_config(TokenizerConfig config) { m_config = std::move(config); }
    void set_special_ids(std::optional<int> bos, std::optional<int> eos, std::optional<int> pad, std::optional<int> unk);
    const std::string& chat_template() const { return m_config.chat_template; }
    const std::string& kind() const { return m_parts.kind; }
    // Replace normalizer and pre-tokenizer (transformers' model-specific tokenizer classes do).
    void set_text_pipeline(Normalizer normalizer, PreTokenizer pre_tokenizer);
    // One line for `qlora inspect`: kind, vocab size, special tokens.
    std::string summary() const;

private:
    void encode_text(std::string text, bool at_origin, std::vector<int>& ids) const;
    const std::string* token_string(int id) const;

    Parts m_parts;
    TokenizerConfig m_config;
    std::optional<int> m_bos, m_eos, m_pad, m_unk;
};

// A tokenizer.json file, or a model folder with tokenizer.json (+ tokenizer_config.json,
// chat_template.jinja).
Tokenizer load_tokenizer(const std::filesystem::path& path);

}  // namespace qls
