// JSON Lines and JSON arrays. An array is split into its elements by a small scanner (strings,
// escapes and nesting only) before each element is parsed on its own, so one malformed or
// non-UTF-8 element is reported with its index and line and the others still load.
#include "core/data/dataset_reader.h"

#include <cctype>

#include "core/tokenizer/tokenizer_config.h"
#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace qls {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// nlohmann's messages start with "[json.exception.parse_error.101] "; the rest is the useful part.
std::string json_reason(const nlohmann::json::exception& e) {
    std::string_view what = e.what();
    if (auto close = what.find("] "); what.starts_with("[json.exception") && close != std::string_view::npos)
        what.remove_prefix(close + 2);
    return str_cat("malformed JSON: ", what);
}

// Parses one record's text; on failure adds the issue and returns false.
bool parse_object(std::string_view text, const DataIssue& where, IssueLog& issues, nlohmann::ordered_json& out) {
    auto fail = [&](std::string reason) {
        DataIssue issue = where;
        issue.reason = std::move(reason);
        issues.add(std::move(issue));
        return false;
    };
    if (std::size_t bad = utf8::find_invalid(text); bad != std::string_view::npos)
        return fail(str_cat("not valid UTF-8 (byte 0x", std::hex, int(static_cast<unsigned char>(text[bad])),
                            std::dec, " at offset ", bad, " of the record)"));
    try {
        out = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        return fail(json_reason(e));
    }
    if (!out.is_object()) return fail(str_cat("expected a JSON object, got ", out.type_name()));
    return true;
}

}  // namespace

std::vector<RawRecord> parse_jsonl(std::string_view text, std::string_view source, IssueLog& issues) {
    std::vector<RawRecord> records;
    std::size_t line = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view row = text.substr(pos, end - pos);
        pos = end + 1;
        ++line;
        while (!row.empty() && is_space(row.back())) row.remove_suffix(1);
        while (!row.empty() && is_space(row.front())) row.remove_prefix(1);
        if (row.empty()) continue;
        RawRecord r{{}, line, 0};
        if (parse_object(row, DataIssue{std::string(source), line, 0, {}}, issues, r.value))
            records.push_back(std::move(r));
    }
    return records;
}

std::vector<RawRecord> parse_json_array(std::string_view text, std::string_view source, IssueLog& issues) {
    std::vector<RawRecord> records;
    std::size_t pos = 0, line = 1;
    auto skip_space = [&] {
        for (; pos < text.size() && is_space(text[pos]); ++pos)
            if (text[pos] == '\n') ++line;
    };
    auto fail = [&](std::size_t element, std::string reason) {
        issues.add(DataIssue{std::string(source), line, element, std::move(reason)});
    };
    skip_space();
    if (pos >= text.size() || text[pos] != '[') {
        fail(0, "expected a JSON array ('[') at the start of the file");
        return records;
    }
    ++pos;
    skip_space();
    if (pos < text.size() && text[pos] == ']') ++pos;
    else {
        for (std::size_t element = 1;; ++element) {
            skip_space();
            const std::size_t start = pos, start_line = line;
            int depth = 0;
            bool in_string = false;
            for (; pos < text.size(); ++pos) {
                const char c = text[pos];
                if (c == '\n') ++line;
                if (in_string) {
                    if (c == '\\' && pos + 1 < text.size() && text[pos + 1] != '\n') ++pos;
                    else if (c == '"') in_string = false;
                } else if (c == '"') {
                    in_string = true;
                } else if (c == '[' || c == '{') {
                    ++depth;
                } else if (c == ']' || c == '}') {
                    if (depth == 0) break;
                    --depth;
                } else if (c == ',' && depth == 0) {
                    break;
                }
            }
            std::string_view item = text.substr(start, pos - start);
            while (!item.empty() && is_space(item.back())) item.remove_suffix(1);
            RawRecord r{{}, start_line, element};
            const DataIssue where{std::string(source), start_line, element, {}};
            if (item.empty()) issues.add(DataIssue{std::string(source), start_line, element, "empty array element"});
            else if (parse_object(item, where, issues, r.value)) records.push_back(std::move(r));
            if (pos >= text.size()) {
                fail(element, "the array is not closed (missing ']')");
                return records;
            }
            if (text[pos++] == ']') break;
        }
    }
    skip_space();
    if (pos < text.size()) fail(0, "unexpected text after the closing ']' of the array");
    return records;
}

std::vector<RawRecord> parse_records(std::string_view bytes, FileFormat format, std::string_view source,
                                     IssueLog& issues) {
    if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);  // UTF-8 byte-order mark
    if (format == FileFormat::Auto) {
        std::size_t first = 0;
        while (first < bytes.size() && is_space(bytes[first])) ++first;
        format = first < bytes.size() && bytes[first] == '[' ? FileFormat::JsonArray : FileFormat::Jsonl;
    }
    switch (format) {
        case FileFormat::JsonArray: return parse_json_array(bytes, source, issues);
        case FileFormat::Csv: return parse_csv(bytes, source, issues);
        default: return parse_jsonl(bytes, source, issues);
    }
}

std::vector<RawRecord> read_records(const std::filesystem::path& path, FileFormat format, IssueLog& issues) {
    if (format == FileFormat::Auto) {
        std::string ext = path.extension().string();
        for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
        if (ext == ".csv") format = FileFormat::Csv;
    }
    return parse_records(read_text_file(path), format, path.string(), issues);
}

}  // namespace qls
