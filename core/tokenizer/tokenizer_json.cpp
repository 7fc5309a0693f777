// tokenizer.json -> Tokenizer (formats.md §8; tokenizers tokenizer/serialization.rs and the
// serde forms of each component). Every unsupported component is a FormatError naming the
// file and the JSON path, never a silent approximation.
#include <nlohmann/json.hpp>

#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace qls {
namespace {

using nlohmann::json;

// Where we are in the file, for messages: "tokenizer.json: pre_tokenizer.pretokenizers[0]".
struct At {
    std::string_view file;
    std::string path;
    At operator/(std::string_view key) const { return {file, path.empty() ? std::string(key) : path + "." + std::string(key)}; }
    At operator[](std::size_t i) const { return {file, str_cat(path, "[", i, "]")}; }
    std::string str() const { return str_cat(file, ": ", path); }
};

[[noreturn]] void fail(const At& at, const std::string& what) { throw FormatError(str_cat(at.str(), ": ", what)); }

const json* find(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool get_bool(const json& obj, const char* key, bool fallback, const At& at) {
    const json* v = find(obj, key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(at / key, "expected true or false, got " + v->dump());
    return v->get<bool>();
}

std::string get_string(const json& obj, const char* key, const At& at) {
    const json* v = find(obj, key);
    if (!v || !v->is_string()) fail(at / key, "expected a string, got " + (v ? v->dump() : std::string("nothing")));
    return v->get<std::string>();
}

const json& get_array(const json& obj, const char* key, const At& at) {
    const json* v = find(obj, key);
    if (!v || !v->is_array()) fail(at / key, "expected a list");
    return *v;
}

std::string type_of(const json& obj, const At& at) {
    if (!obj.is_object()) fail(at, "expected an object, got " + obj.dump().substr(0, 80));
    return get_string(obj, "type", at);
}

char32_t single_char(const std::string& s, const At& at) {
    std::size_t pos = 0;
    if (s.empty() || (pos = 0, utf8::next(s, pos), pos != s.size())) fail(at, "expected exactly one character, got '" + s + "'");
    pos = 0;
    return utf8::next(s, pos);
}

// {"String": s} or {"Regex": r} (SplitPattern / ReplacePattern).
std::shared_ptr<const Regex> pattern(const json& obj, const At& at) {
    const json* p = find(obj, "pattern");
    if (!p || !p->is_object() || p->size() != 1) fail(at / "pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
    const std::string kind = p->begin().key();
    const json& value = p->begin().value();
    if (!value.is_string()) fail(at / "pattern", "expected a string value");
    const std::string where = (at / "pattern").str();
    if (kind == "Regex") return std::make_shared<const Regex>(value.get<std::string>(), where);
    if (kind == "String") {
        // HF escapes the string into an onig regex; an empty one would match everywhere.
        if (value.get<std::string>().empty()) fail(at / "pattern", "an empty String pattern is unsupported");
        return std::make_shared<const Regex>(Regex::literal(value.get<std::string>(), where));
    }
    fail(at / "pattern", "unknown pattern kind '" + kind + "'");
}

void parse_normalizer(const json& n, const At& at, Normalizer& out) {
    const std::string type = type_of(n, at);
    if (type == "Sequence") {
        const json& list = get_array(n, "normalizers", at);
        for (std::size_t i = 0; i < list.size(); ++i) parse_normalizer(list[i], (at / "normalizers")[i], out);
    } else if (type == "Prepend") {
        out.add(Normalizer::Prepend{get_string(n, "prepend", at)});
    } else if (type == "Replace") {
        out.add(Normalizer::Replace{pattern(n, at), get_string(n, "content", at)});
    } else if (type == "Strip") {
        out.add(Normalizer::Strip{get_bool(n, "strip_left", false, at), get_bool(n, "strip_right", false, at)});
    } else if (type == "ByteLevel") {
        out.add(Normalizer::ByteLevel{});
    } else if (type == "NFC") {
        out.add(Normalizer::Nfc{});
    } else if (type == "NFD") {
        out.add(Normalizer::Nfd{});
    } else if (type == "NFKC") {
        out.add(Normalizer::Nfkc{});
    } else if (type == "NFKD") {
        out.add(Normalizer::Nfkd{});
    } else {
        // Lowercase needs Unicode tables we do not carry; Bert, Nmt, Precompiled and
        // StripAccents belong to other model families.
        fail(at / "type", "unsupported normalizer '" + type + "'");
    }
}

SplitBehavior behavior(const json& obj, const At& at) {
    const std::string b = get_string(obj, "behavior", at);
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    fail(at / "behavior", "unknown split behavior '" + b + "'");
}

PrependScheme prepend_scheme(const json& obj, const At& at) {
    PrependScheme scheme = PrependScheme::Always;  // serde default
    if (const json* s = find(obj, "prepend_scheme")) {
        const std::string v = s->is_string() ? s->get<std::string>() : std::string();
        if (v == "first") scheme = PrependScheme::First;
        else if (v == "always") scheme = PrependScheme::Always;
        else if (v == "never") scheme = PrependScheme::Never;
        else fail(at / "prepend_scheme", "expected first, always or never, got " + s->dump());
    }
    if (!get_bool(obj, "add_prefix_space", true, at)) {  // legacy field
        if (scheme != PrependScheme::Never && find(obj, "prepend_scheme"))
            fail(at / "add_prefix_space", "add_prefix_space false does not match prepend_scheme");
        scheme = PrependScheme::Never;
    }
    return scheme;
}

void parse_pre_tokenizer(const json& p, const At& at, PreTokenizer& out) {
    const std::string type = type_of(p, at);
    if (type == "Sequence") {
        const json& list = get_array(p, "pretokenizers", at);
        for (std::size_t i = 0; i < list.size(); ++i) parse_pre_tokenizer(list[i], (at / "pretokenizers")[i], out);
    } else if (type == "Split") {
        out.add(PreTokenizer::Split{pattern(p, at), behavior(p, at), get_bool(p, "invert", false, at)});
    } else if (type == "ByteLevel") {
        out.add(PreTokenizer::ByteLevel{get_bool(p, "add_prefix_space", true, at), get_bool(p, "use_regex", true, at)});
    } else if (type == "Metaspace") {
        const std::string rep = get_string(p, "replacement", at);
        single_char(rep, at / "replacement");
        out.add(PreTokenizer::Metaspace{rep, prepend_scheme(p, at), get_bool(p, "split", true, at)});
    } else if (type == "Digits") {
        out.add(PreTokenizer::digits(get_bool(p, "individual_digits", false, at)));
    } else if (type == "Whitespace") {
        out.add(PreTokenizer::whitespace());
    } else if (type == "WhitespaceSplit") {
        out.add(PreTokenizer::whitespace_split());
    } else {
        fail(at / "type", "unsupported pre_tokenizer '" + type + "'");
    }
}

void parse_decoder(const json& d, const At& at, Decoder& out) {
    const std::string type = type_of(d, at);
    if (type == "Sequence") {
        const json& list = get_array(d, "decoders", at);
        for (std::size_t i = 0; i < list.size(); ++i) parse_decoder(list[i], (at / "decoders")[i], out);
    } else if (type == "ByteLevel") {
        out.add(Decoder::ByteLevel{});
    } else if (type == "Replace") {
        out.add(Decoder::Replace{pattern(d, at), get_string(d, "content", at)});
    } else if (type == "ByteFallback") {
        out.add(Decoder::ByteFallback{});
    } else if (type == "Fuse") {
        out.add(Decoder::Fuse{});
    } else if (type == "Strip") {
        const json* start = find(d, "start");
        const json* stop = find(d, "stop");
        if (!start || !start->is_number_unsigned() || !stop || !stop->is_number_unsigned())
            fail(at, "Strip needs non-negative integers 'start' and 'stop'");
        out.add(Decoder::Strip{single_char(get_string(d, "content", at), at / "content"), start->get<std::size_t>(),
                               stop->get<std::size_t>()});
    } else if (type == "Metaspace") {
        out.add(Decoder::Metaspace{single_char(get_string(d, "replacement", at), at / "replacement"),
                                   prepend_scheme(d, at) != PrependScheme::Never});
    } else {
        fail(at / "type", "unsupported decoder '" + type + "'");
    }
}

PostProcessor parse_template(const json& p, const At& at) {
    const json* specials = find(p, "special_tokens");
    const json& single = get_array(p, "single", at);
    std::vector<PostProcessor::Item> items;
    for (std::size_t i = 0; i < single.size(); ++i) {
        const At here = (at / "single")[i];
        const json& piece = single[i];
        if (!piece.is_object() || piece.size() != 1) fail(here, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
        const std::string kind = piece.begin().key();
        const json& value = piece.begin().value();
        if (!value.is_object()) fail(here, "expected an object");
        const std::string id = get_string(value, "id", here / kind);
        if (kind == "Sequence") {
            if (id != "A") fail(here, "the single template may only use sequence A, got '" + id + "'");
            items.push_back({true, {}});
        } else if (kind == "SpecialToken") {
            const json* tok = specials ? find(*specials, id.c_str()) : nullptr;
            if (!tok || !tok->is_object()) fail(at / "special_tokens", "no entry for '" + id + "'");
            const json& ids = get_array(*tok, "ids", at / "special_tokens" / id);
            std::vector<int> v;
            for (const auto& x : ids) {
                if (!x.is_number_unsigned() || x.get<std::uint64_t>() >= static_cast<std::uint64_t>(kMaxTokenId))
                    fail(at / "special_tokens" / id / "ids", "expected token ids, got " + x.dump());
                v.push_back(x.get<int>());
            }
            items.push_back({false, std::move(v)});
        } else {
            fail(here, "unknown template piece '" + kind + "'");
        }
    }
    return PostProcessor(std::move(items));
}

PostProcessor parse_post_processor(const json& p, const At& at) {
    const std::string type = type_of(p, at);
    if (type == "TemplateProcessing") return parse_template(p, at);
    if (type == "ByteLevel") return PostProcessor();  // offsets only
    if (type == "Sequence") {
        PostProcessor result;
        const json& list = get_array(p, "processors", at);
        for (std::size_t i = 0; i < list.size(); ++i) result = result.then(parse_post_processor(list[i], (at / "processors")[i]));
        return result;
    }
    fail(at / "type", "unsupported post_processor '" + type + "'");
}

// "a b" (split on the single space; "#version" lines skipped) or ["a", "b"].
std::vector<std::pair<std::string, std::string>> parse_merges(const json& merges, const At& at) {
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(merges.size());
    for (std::size_t i = 0; i < merges.size(); ++i) {
        const json& m = merges[i];
        if (m.is_string()) {
            const std::string s = m.get<std::string>();
            if (s.rfind("#version", 0) == 0) continue;
            const auto sp = s.find(' ');
            if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                fail(at[i], "expected \"a b\" with exactly one space, got '" + s + "'");
            out.emplace_back(s.substr(0, sp), s.substr(sp + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            fail(at[i], "expected \"a b\" or [\"a\", \"b\"], got " + m.dump().substr(0, 80));
        }
    }
    return out;
}

std::unique_ptr<BpeModel> parse_model(const json& m, const At& at) {
    if (!m.is_object()) fail(at, "expected an object");
    if (const json* t = find(m, "type"); t && *t != "BPE")
        fail(at / "type", "unsupported model '" + (t->is_string() ? t->get<std::string>() : t->dump()) + "' (only BPE)");
    if (const json* d = find(m, "dropout"); d && (!d->is_number() || d->get<double>() != 0.0))
        fail(at / "dropout", "BPE dropout must be null or 0 for deterministic ids, got " + d->dump());
    BpeOptions o;
    const json* vocab = find(m, "vocab");
    if (!vocab || !vocab->is_object()) fail(at / "vocab", "expected an object {token: id}");
    for (const auto& [tok, id] : vocab->items()) {
        if (!id.is_number_integer()) fail(at / "vocab", "id of '" + tok + "' is not an integer: " + id.dump());
        const auto v = id.get<std::int64_t>();
        if (v < 0 || v >= kMaxTokenId) fail(at / "vocab", str_cat("id of '", tok, "' is out of range: ", v));
        o.vocab.add(tok, static_cast<int>(v), (at / "vocab").str());
    }
    if (const json* merges = find(m, "merges")) {
        if (!merges->is_array()) fail(at / "merges", "expected a list");
        o.merges = parse_merges(*merges, at / "merges");
    }
    if (const json* u = find(m, "unk_token")) {
        if (!u->is_string()) fail(at / "unk_token", "expected a string");
        o.unk_token = u->get<std::string>();
    }
    if (find(m, "continuing_subword_prefix")) o.continuing_subword_prefix = get_string(m, "continuing_subword_prefix", at);
    if (find(m, "end_of_word_suffix")) o.end_of_word_suffix = get_string(m, "end_of_word_suffix", at);
    o.fuse_unk = get_bool(m, "fuse_unk", false, at);
    o.byte_fallback = get_bool(m, "byte_fallback", false, at);
    o.ignore_merges = get_bool(m, "ignore_merges", false, at);
    return std::make_unique<BpeModel>(std::move(o), at.str());
}

std::vector<AddedToken> parse_added_tokens(const json& list, const At& at) {
    std::vector<AddedToken> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const json& t = list[i];
        const At here = at[i];
        if (!t.is_object()) fail(here, "expected an object");
        AddedToken a;
        a.content = get_string(t, "content", here);
        a.single_word = get_bool(t, "single_word", false, here);
        a.lstrip = get_bool(t, "lstrip", false, here);
        a.rstrip = get_bool(t, "rstrip", false, here);
        a.special = get_bool(t, "special", false, here);
        a.normalized = get_bool(t, "normalized", !a.special, here);
        if (utf8::find_invalid(a.content) != std::string::npos) fail(here / "content", "not valid UTF-8");
        out.push_back(std::move(a));
    }
    return out;
}

bool uses_byte_level(const json& root) {
    const std::string s = root.value("pre_tokenizer", json()).dump() + root.value("decoder", json()).dump();
    return s.find("\"ByteLevel\"") != std::string::npos;
}

}  // namespace

Tokenizer Tokenizer::from_json_string(std::string_view json_text, std::string_view source_name) {
    json root;
    try {
        root = json::parse(json_text);
    } catch (const json::exception& e) {
        throw FormatError(str_cat(source_name, ": not valid JSON: ", e.what()));
    }
    const At top{source_name, ""};
    if (!root.is_object()) fail(At{source_name, "(root)"}, "expected a JSON object");
    if (const json* v = find(root, "version"); v && *v != "1.0") fail(top / "version", "unknown version " + v->dump());
    const json* model = find(root, "model");
    if (!model) fail(top / "model", "missing");

    Parts parts;
    parts.model = parse_model(*model, top / "model");
    if (const json* n = find(root, "normalizer")) parse_normalizer(*n, top / "normalizer", parts.normalizer);
    if (const json* p = find(root, "pre_tokenizer")) parse_pre_tokenizer(*p, top / "pre_tokenizer", parts.pre_tokenizer);
    if (const json* d = find(root, "decoder")) parse_decoder(*d, top / "decoder", parts.decoder);
    else parts.decoder.set_absent();
    if (const json* p = find(root, "post_processor")) parts.post_processor = parse_post_processor(*p, top / "post_processor");
    if (parts.pre_tokenizer.has_metaspace_first() && !parts.normalizer.keeps_offsets())
        fail(top / "pre_tokenizer", "Metaspace prepend_scheme 'first' after a normalizer is unsupported");
    if (const json* a = find(root, "added_tokens")) {
        if (!a->is_array()) fail(top / "added_tokens", "expected a list");
        parts.added.add_tokens(parse_added_tokens(*a, top / "added_tokens"), parts.model->vocab(),
                               parts.normalizer.empty() ? nullptr : &parts.normalizer);
    }
    const bool byte_fallback = root["model"].value("byte_fallback", json(false)) == json(true);
    parts.kind = uses_byte_level(root) ? "byte-level BPE" : byte_fallback ? "SentencePiece BPE" : "BPE";
    return Tokenizer(std::move(parts));
}

}  // namespace qls
