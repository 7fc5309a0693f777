// CSV as RFC 4180 writes it: comma-separated fields, a header row naming the columns, fields in
// double quotes may hold commas, line breaks and doubled quotes (""), rows end in LF or CRLF.
// A row that breaks the grammar is reported and reading resumes at the next line.
#include <optional>
#include <string>

#include "core/data/dataset_reader.h"
#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace qls {
namespace {

struct CsvRow {
    std::vector<std::string> fields;
    std::size_t line = 0;  // where the row starts
    std::string error;     // non-empty: the row broke the grammar
};

class CsvScanner {
public:
    explicit CsvScanner(std::string_view text) : m_text(text) {}
    bool done() const { return m_pos >= m_text.size(); }

    CsvRow next_row() {
        CsvRow row;
        row.line = m_line;
        for (;;) {
            std::string field;
            const bool ok = peek() == '"' ? quoted(field, row.error) : unquoted(field, row.error);
            row.fields.push_back(std::move(field));
            if (!ok) {
                skip_line();
                return row;
            }
            if (peek() == ',') {
                ++m_pos;
                continue;
            }
            end_of_line();
            return row;
        }
    }

private:
    char peek() const { return m_pos < m_text.size() ? m_text[m_pos] : '\0'; }
    bool at_line_end() const { return done() || peek() == '\n' || m_text.substr(m_pos).starts_with("\r\n"); }
    void end_of_line() {
        if (peek() == '\r') ++m_pos;
        if (peek() == '\n') ++m_pos, ++m_line;
    }
    void skip_line() {
        while (!done() && peek() != '\n') ++m_pos;
        end_of_line();
    }

    bool unquoted(std::string& field, std::string& error) {
        while (!at_line_end() && peek() != ',') {
            if (peek() == '"') {
                error = "a double quote inside an unquoted field (quote the whole field and double the quote)";
                return false;
            }
            field += m_text[m_pos++];
        }
        return true;
    }

    bool quoted(std::string& field, std::string& error) {
        const std::size_t open_pos = m_pos, open_line = m_line;
        ++m_pos;  // opening quote
        for (;;) {
            if (done()) {
                // Almost always a stray quote: taking the rest of the file as one field would
                // drop every row after it. Only the line it opens on is lost.
                error = "a quoted field opened on this line is never closed (a stray double quote?); the line is "
                        "skipped and reading goes on with the next";
                m_pos = open_pos;
                m_line = open_line;
                return false;
            }
            const char c = m_text[m_pos++];
            if (c == '\n') ++m_line;
            if (c != '"') {
                field += c;
            } else if (peek() == '"') {
                field += '"';
                ++m_pos;
            } else {
                break;
            }
        }
        if (peek() == ',' || at_line_end()) return true;
        error = "text after the closing quote of a field";
        if (m_line != open_line) {
            // The "field" ran over line ends to some later quote: a stray quote is likelier
            // than a broken multi-line field, so only its own line is lost.
            error += " that began with a quote on this line (a stray double quote?); the line is skipped";
            m_pos = open_pos;
            m_line = open_line;
        }
        return false;
    }

    std::string_view m_text;
    std::size_t m_pos = 0;
    std::size_t m_line = 1;
};

bool blank(const CsvRow& row) { return row.error.empty() && row.fields.size() == 1 && row.fields[0].empty(); }

std::optional<std::string> invalid_utf8(const CsvRow& row) {
    for (std::size_t i = 0; i < row.fields.size(); ++i)
        if (std::size_t bad = utf8::find_invalid(row.fields[i]); bad != std::string_view::npos)
            return str_cat("not valid UTF-8 (field ", i + 1, ", byte offset ", bad, ")");
    return std::nullopt;
}

}  // namespace

std::vector<RawRecord> parse_csv(std::string_view text, std::string_view source, IssueLog& issues) {
    std::vector<RawRecord> records;
    CsvScanner scan(text);
    auto report = [&](std::size_t line, std::string reason) {
        issues.add(DataIssue{std::string(source), line, 0, std::move(reason)});
    };
    CsvRow header;
    while (!scan.done() && blank(header = scan.next_row())) {}
    if (header.fields.empty()) return records;
    if (!header.error.empty() || invalid_utf8(header)) {
        report(header.line, str_cat("the header row is unusable: ", header.error.empty() ? *invalid_utf8(header) : header.error));
        return records;
    }
    while (!scan.done()) {
        CsvRow row = scan.next_row();
        if (blank(row)) continue;
        if (!row.error.empty()) {
            report(row.line, row.error);
        } else if (row.fields.size() != header.fields.size()) {
            report(row.line, str_cat("expected ", header.fields.size(), " fields as in the header, got ", row.fields.size()));
        } else if (auto bad = invalid_utf8(row)) {
            report(row.line, *bad);
        } else {
            RawRecord r{nlohmann::ordered_json::object(), row.line, 0};
            for (std::size_t i = 0; i < row.fields.size(); ++i) r.value[header.fields[i]] = std::move(row.fields[i]);
            records.push_back(std::move(r));
        }
    }
    return records;
}

}  // namespace qls
