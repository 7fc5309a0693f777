// Reading dataset files into records: JSON Lines, a JSON array of objects, or CSV with a header
// row (RFC 4180). A record is a JSON object whatever the file format (CSV cells become strings);
// record_form.h turns it into a Conversation. Bad records go to the IssueLog with their line.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <string_view>
#include <vector>

#include "core/data/data_issue.h"

namespace qls {

enum class FileFormat {
    Auto,       // .csv -> Csv; else by the first character: '[' -> JsonArray, otherwise Jsonl
    Jsonl,      // one object per line; blank lines are skipped
    JsonArray,  // [ {...}, {...} ]
    Csv,        // header row, then one record per row; quoted fields may hold commas and newlines
};

struct RawRecord {
    nlohmann::ordered_json value;  // a JSON object
    std::size_t line = 0;          // 1-based line where the record starts
    std::size_t element = 0;       // 1-based element of a JSON array; 0 otherwise
};

// Reads `path` (IoError when it cannot be read). `source` names the file in issues.
std::vector<RawRecord> read_records(const std::filesystem::path& path, FileFormat format, IssueLog& issues);

// The same from bytes in memory.
std::vector<RawRecord> parse_records(std::string_view bytes, FileFormat format, std::string_view source,
                                     IssueLog& issues);

// Per format, for parse_records; `text` has no byte-order mark.
std::vector<RawRecord> parse_jsonl(std::string_view text, std::string_view source, IssueLog& issues);
std::vector<RawRecord> parse_json_array(std::string_view text, std::string_view source, IssueLog& issues);
std::vector<RawRecord> parse_csv(std::string_view text, std::string_view source, IssueLog& issues);

}  // namespace qls
