#include "core/tokenizer/decoder.h"

#include <optional>

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/utf8.h"

namespace qls {
namespace {

using Tokens = std::vector<std::string>;

// ByteLevel::decode_chain: all tokens' bytes (unmapped tokens keep their UTF-8) -> one lossy
// UTF-8 string.
Tokens decode_byte_level(Tokens tokens) {
    std::string bytes;
    for (const auto& t : tokens) {
        if (auto b = byte_level::decode_token(t)) bytes += *b;
        else bytes += t;
    }
    return {utf8::from_bytes_lossy(bytes)};
}

std::optional<unsigned char> byte_token(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return std::nullopt;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    const int hi = hex(t[3]), lo = hex(t[4]);
    if (hi < 0 || lo < 0) return std::nullopt;
    return static_cast<unsigned char>(hi * 16 + lo);
}

// ByteFallback::decode_chain: runs of <0xXX> tokens become their UTF-8 text, or one U+FFFD per
// byte when the run is not valid UTF-8.
Tokens byte_fallback(Tokens tokens) {
    Tokens out;
    std::string run;
    auto flush = [&] {
        if (run.empty()) return;
        if (utf8::find_invalid(run) == std::string::npos) out.push_back(run);
        else
            for (std::size_t i = 0; i < run.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
        run.clear();
    };
    for (auto& t : tokens) {
        if (auto b = byte_token(t)) {
            run += static_cast<char>(*b);
        } else {
            flush();
            out.push_back(std::move(t));
        }
    }
    flush();
    return out;
}

std::string strip(const std::string& token, const Decoder::Strip& s) {
    std::vector<char32_t> chars;
    for (std::size_t p = 0; p < token.size();) chars.push_back(utf8::next(token, p));
    std::size_t start_cut = 0;
    for (std::size_t i = 0; i < s.start && i < chars.size() && chars[i] == s.content; ++i) start_cut = i + 1;
    std::size_t stop_cut = chars.size();
    for (std::size_t i = 0; i < s.stop && i < chars.size(); ++i) {
        const std::size_t index = chars.size() - i - 1;
        if (chars[index] != s.content) break;
        stop_cut = index;
    }
    std::string out;
    for (std::size_t i = start_cut; i < stop_cut; ++i) utf8::append(out, chars[i]);
    return out;
}

std::string metaspace(const std::string& token, const Decoder::Metaspace& m, bool first) {
    std::string out;
    for (std::size_t p = 0; p < token.size();) {
        const char32_t c = utf8::next(token, p);
        if (c != m.replacement) utf8::append(out, c);
        else if (!(first && m.strip_first)) out += ' ';
    }
    return out;
}

}  // namespace

std::string Decoder::decode(std::vector<std::string> tokens) const {
    if (m_absent) {
        std::string out;
        for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
        return out;
    }
    for (const auto& step : m_steps) {
        if (std::holds_alternative<ByteLevel>(step)) {
            tokens = decode_byte_level(std::move(tokens));
        } else if (auto* r = std::get_if<Replace>(&step)) {
            for (auto& t : tokens) t = replace_all(*r->pattern, t, r->content);
        } else if (std::holds_alternative<ByteFallback>(step)) {
            tokens = byte_fallback(std::move(tokens));
        } else if (std::holds_alternative<Fuse>(step)) {
            std::string joined;
            for (const auto& t : tokens) joined += t;
            tokens = {std::move(joined)};
        } else if (auto* s = std::get_if<Strip>(&step)) {
            for (auto& t : tokens) t = strip(t, *s);
        } else {
            const auto& m = std::get<Metaspace>(step);
            for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = metaspace(tokens[i], m, i == 0);
        }
    }
    std::string out;
    for (const auto& t : tokens) out += t;
    return out;
}

}  // namespace qls
