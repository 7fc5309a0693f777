// UTF-8 and Python str.strip/split/splitlines/replace (CPython Objects/unicodeobject.c).
#include "core/template/jinja_text.h"

#include <algorithm>

namespace qls::jinja {

std::u32string decode_utf8(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        int extra = b < 0x80 ? 0 : (b >> 5) == 6 ? 1 : (b >> 4) == 14 ? 2 : (b >> 3) == 30 ? 3 : -1;
        if (extra < 0 || i + static_cast<size_t>(extra) >= s.size() + (extra == 0)) {
            out.push_back(0xFFFD);  // invalid lead byte or truncated sequence
            ++i;
            continue;
        }
        char32_t cp = extra == 0 ? b : b & (0x3F >> extra);
        bool ok = true;
        for (int k = 1; k <= extra; ++k) {
            const auto c = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
            if ((c & 0xC0) != 0x80) {
                ok = false;
                break;
            }
            cp = (cp << 6) | (c & 0x3F);
        }
        out.push_back(ok ? cp : 0xFFFD);
        i += ok ? static_cast<size_t>(extra) + 1 : 1;
    }
    return out;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string encode_utf8(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t cp : s) append_utf8(out, cp);
    return out;
}

size_t code_point_count(std::string_view s) {
    return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool py_isspace(char32_t cp) {
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

size_t leading_space_bytes(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : 4;
        len = std::min(len, s.size() - i);
        const std::u32string cp = decode_utf8(s.substr(i, len));
        if (cp.size() != 1 || !py_isspace(cp[0])) break;
        i += len;
    }
    return i;
}

namespace {

bool in_chars(char32_t cp, const std::u32string* chars) {
    if (!chars) return py_isspace(cp);
    return chars->find(cp) != std::u32string::npos;
}

}  // namespace

std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
    const std::u32string cps = decode_utf8(s);
    const std::u32string set = chars ? decode_utf8(*chars) : std::u32string();
    const std::u32string* setp = chars ? &set : nullptr;
    size_t b = 0, e = cps.size();
    if (left)
        while (b < e && in_chars(cps[b], setp)) ++b;
    if (right)
        while (e > b && in_chars(cps[e - 1], setp)) --e;
    return encode_utf8(std::u32string_view(cps).substr(b, e - b));
}

std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep, long maxsplit) {
    std::vector<std::string> out;
    if (sep) {
        size_t pos = 0;
        while (maxsplit < 0 || static_cast<long>(out.size()) < maxsplit) {
            const size_t hit = s.find(*sep, pos);
            if (hit == std::string_view::npos) break;
            out.emplace_back(s.substr(pos, hit - pos));
            pos = hit + sep->size();
        }
        out.emplace_back(s.substr(pos));
        return out;
    }
    const std::u32string cps = decode_utf8(s);
    size_t i = 0;
    while (i < cps.size()) {
        while (i < cps.size() && py_isspace(cps[i])) ++i;
        if (i == cps.size()) break;
        if (maxsplit >= 0 && static_cast<long>(out.size()) == maxsplit) {
            size_t e = cps.size();
            while (e > i && py_isspace(cps[e - 1])) --e;
            out.push_back(encode_utf8(std::u32string_view(cps).substr(i, e - i)));
            break;
        }
        size_t j = i;
        while (j < cps.size() && !py_isspace(cps[j])) ++j;
        out.push_back(encode_utf8(std::u32string_view(cps).substr(i, j - i)));
        i = j;
    }
    return out;
}

std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep, long maxsplit) {
    if (maxsplit < 0) return py_split(s, sep, maxsplit);
    std::vector<std::string> out;
    if (sep) {
        size_t end = s.size();
        while (static_cast<long>(out.size()) < maxsplit) {
            if (end < sep->size()) break;
            const size_t hit = s.rfind(*sep, end - sep->size());
            if (hit == std::string_view::npos) break;
            out.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
            end = hit;
        }
        out.emplace_back(s.substr(0, end));
    } else {
        const std::u32string cps = decode_utf8(s);
        size_t e = cps.size();
        while (e > 0) {
            while (e > 0 && py_isspace(cps[e - 1])) --e;
            if (e == 0) break;
            if (static_cast<long>(out.size()) == maxsplit) {
                size_t b = 0;
                while (b < e && py_isspace(cps[b])) ++b;
                out.push_back(encode_utf8(std::u32string_view(cps).substr(b, e - b)));
                break;
            }
            size_t b = e;
            while (b > 0 && !py_isspace(cps[b - 1])) --b;
            out.push_back(encode_utf8(std::u32string_view(cps).substr(b, e - b)));
            e = b;
        }
    }
    std::reverse(out.begin(), out.end());
    return out;
}

std::vector<std::string> py_splitlines(std::string_view s, bool keepends) {
    const std::u32string cps = decode_utf8(s);
    std::vector<std::string> out;
    size_t start = 0, i = 0;
    while (i < cps.size()) {
        const char32_t c = cps[i];
        const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
                         c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
        if (!brk) {
            ++i;
            continue;
        }
        size_t eol = i + 1;
        if (c == '\r' && eol < cps.size() && cps[eol] == '\n') ++eol;
        out.push_back(encode_utf8(std::u32string_view(cps).substr(start, (keepends ? eol : i) - start)));
        start = i = eol;
    }
    if (start < cps.size()) out.push_back(encode_utf8(std::u32string_view(cps).substr(start)));
    return out;
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, long count) {
    std::string out;
    if (old.empty()) {
        // Python inserts `repl` before every code point and at the end.
        const std::u32string cps = decode_utf8(s);
        long done = 0;
        for (char32_t cp : cps) {
            if (count < 0 || done < count) {
                out += repl;
                ++done;
            }
            append_utf8(out, cp);
        }
        if (count < 0 || done < count) out += repl;
        return out;
    }
    size_t pos = 0;
    long done = 0;
    while (count < 0 || done < count) {
        const size_t hit = s.find(old, pos);
        if (hit == std::string_view::npos) break;
        out.append(s.substr(pos, hit - pos));
        out.append(repl);
        pos = hit + old.size();
        ++done;
    }
    out.append(s.substr(pos));
    return out;
}

}  // namespace qls::jinja
