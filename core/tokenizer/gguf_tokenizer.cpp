// GGUF -> Tokenizer. Control (3) and user-defined (4) tokens become added tokens matched in the
// raw text, like HF's special / non-special added tokens. For "llama" the text pipeline is
// llama.cpp's: a "▁" is prepended to each text fragment (add_space_prefix) and spaces become
// "▁", which is HF's legacy Prepend+Replace normalizer; the decoder is the LlamaConverter one.
#include "core/tokenizer/gguf_tokenizer.h"

#include <cstdio>

#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/spm_model.h"
#include "core/util/error.h"

namespace qls {
namespace {

constexpr int kControl = 3, kUserDefined = 4, kUnknown = 2;

std::optional<int> checked_id(const std::optional<std::int64_t>& id, std::size_t n, const char* key) {
    if (!id) return std::nullopt;
    QLS_CHECK(FormatError, *id >= 0 && static_cast<std::size_t>(*id) < n, "GGUF tokenizer.ggml.", key, " = ", *id,
              " is outside the ", n, "-token vocabulary");
    return static_cast<int>(*id);
}

const char* split_pattern_for(const std::string& pre) {
    if (pre == "llama-bpe" || pre == "llama3") return kLlama3Pattern;
    if (pre == "qwen2") return kQwen2Pattern;
    return nullptr;
}

void byte_level_pipeline(const GgufTokenizerData& d, Tokenizer::Parts& parts) {
    if (const char* pattern = split_pattern_for(d.pre)) {
        parts.pre_tokenizer.add(PreTokenizer::Split{std::make_shared<const Regex>(pattern, "GGUF tokenizer.ggml.pre"),
                                                    SplitBehavior::Isolated, false});
        parts.pre_tokenizer.add(PreTokenizer::ByteLevel{false, false});
    } else if (d.pre == "smollm") {
        parts.pre_tokenizer.add(PreTokenizer::digits(true));
        parts.pre_tokenizer.add(PreTokenizer::ByteLevel{false, true});
    } else if (d.pre == "gpt-2" || d.pre == "gpt2" || d.pre == "default") {
        parts.pre_tokenizer.add(PreTokenizer::ByteLevel{false, true});
    } else {
        throw FormatError(str_cat("GGUF tokenizer.ggml.pre '", d.pre,
                                  "' is unsupported (known: llama-bpe, llama3, qwen2, smollm, gpt-2, default)"));
    }
    parts.decoder.add(Decoder::ByteLevel{});
    parts.kind = "byte-level BPE";
}

std::unique_ptr<TokenModel> bpe_model(const GgufTokenizerData& d) {
    BpeOptions o;
    for (const auto& t : d.tokens) o.vocab.add_in_order(t);
    for (std::size_t i = 0; i < d.merges.size(); ++i) {
        const std::string& m = d.merges[i];
        const auto sp = m.find(' ');
        QLS_CHECK(FormatError, sp != std::string::npos && m.find(' ', sp + 1) == std::string::npos,
                  "GGUF tokenizer.ggml.merges[", i, "] = '", m, "': expected \"a b\"");
        o.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
    }
    // llama.cpp enables ignore_merges for the Llama-3 pre-tokenizer, as HF's tokenizer.json does.
    o.ignore_merges = d.pre == "llama-bpe" || d.pre == "llama3";
    return std::make_unique<BpeModel>(std::move(o), "GGUF tokenizer.ggml");
}

std::unique_ptr<TokenModel> spm_model(const GgufTokenizerData& d, std::optional<int> unk, Tokenizer::Parts& parts) {
    QLS_CHECK(FormatError, d.scores.size() == d.tokens.size(), "GGUF tokenizer.ggml.scores has ", d.scores.size(),
              " entries for ", d.tokens.size(), " tokens");
    Vocab vocab;
    for (const auto& t : d.tokens) vocab.add_in_order(t);
    std::array<int, 256> byte_ids;
    byte_ids.fill(-1);
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        byte_ids[b] = vocab.find(name).value_or(-1);
    }
    const bool space_prefix = d.add_space_prefix.value_or(true);
    if (space_prefix) parts.normalizer.add(Normalizer::Prepend{"\u2581"});
    parts.normalizer.add(Normalizer::Replace{std::make_shared<const Regex>(Regex::literal(" ", "GGUF")), "\u2581"});
    parts.decoder.add(Decoder::Replace{std::make_shared<const Regex>(Regex::literal("\u2581", "GGUF")), " "});
    parts.decoder.add(Decoder::ByteFallback{});
    parts.decoder.add(Decoder::Fuse{});
    if (space_prefix) parts.decoder.add(Decoder::Strip{U' ', 1, 0});
    parts.kind = "SentencePiece BPE";
    return std::make_unique<SpmModel>(std::move(vocab), d.scores, byte_ids, unk);
}

}  // namespace

Tokenizer tokenizer_from_gguf(const GgufTokenizerData& d) {
    const std::size_t n = d.tokens.size();
    QLS_CHECK(FormatError, n > 0 && n < static_cast<std::size_t>(kMaxTokenId), "GGUF tokenizer.ggml.tokens has ", n,
              " entries");
    QLS_CHECK(FormatError, d.token_types.empty() || d.token_types.size() == n, "GGUF tokenizer.ggml.token_type has ",
              d.token_types.size(), " entries for ", n, " tokens");
    const auto bos = checked_id(d.bos_id, n, "bos_token_id");
    const auto eos = checked_id(d.eos_id, n, "eos_token_id");
    const auto unk = checked_id(d.unk_id, n, "unknown_token_id");
    const auto pad = checked_id(d.pad_id, n, "padding_token_id");

    Tokenizer::Parts parts;
    if (d.model == "gpt2") {
        byte_level_pipeline(d, parts);
        parts.model = bpe_model(d);
    } else if (d.model == "llama") {
        parts.model = spm_model(d, unk, parts);
    } else {
        throw FormatError(str_cat("GGUF tokenizer.ggml.model '", d.model, "' is unsupported (known: gpt2, llama)"));
    }
    std::vector<std::pair<int, AddedToken>> added;
    for (std::size_t i = 0; i < d.token_types.size(); ++i) {
        const int type = d.token_types[i];
        if (type != kControl && type != kUserDefined && type != kUnknown) continue;
        if (d.tokens[i].empty()) continue;
        AddedToken t;
        t.content = d.tokens[i];
        t.special = type != kUserDefined;
        added.emplace_back(static_cast<int>(i), std::move(t));
    }
    parts.added.add_with_ids(std::move(added));
    // llama.cpp adds BOS by default for SentencePiece vocabularies only.
    std::vector<PostProcessor::Item> items;
    if (d.add_bos.value_or(d.model == "llama") && bos) items.push_back({false, {*bos}});
    items.push_back({true, {}});
    if (d.add_eos.value_or(false) && eos) items.push_back({false, {*eos}});
    parts.post_processor = PostProcessor(std::move(items));

    Tokenizer tok(std::move(parts));
    tok.set_special_ids(bos, eos, pad, unk);
    TokenizerConfig cfg;
    if (bos) cfg.bos_token = d.tokens[*bos];
    if (eos) cfg.eos_token = d.tokens[*eos];
    if (pad) cfg.pad_token = d.tokens[*pad];
    if (unk) cfg.unk_token = d.tokens[*unk];
    cfg.add_bos_token = d.add_bos;
    cfg.add_eos_token = d.add_eos;
    cfg.chat_template = d.chat_template;
    tok.set_config(std::move(cfg));
    return tok;
}

}  // namespace qls
