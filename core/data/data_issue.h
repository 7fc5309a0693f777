// Bad records in a dataset: each is reported with where it is and why, and the policy decides
// whether preparation skips it or stops.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace qls {

enum class BadDataPolicy {
    Skip,  // collect the issue, leave the record out, go on
    Stop,  // throw DataError at the first issue
};

struct DataIssue {
    std::string file;
    std::size_t line = 0;     // 1-based line where the record starts
    std::size_t element = 0;  // 1-based element of a JSON array; 0 for JSONL and CSV
    std::string reason;

    // "file:line: reason", or "file:line (element N): reason" for JSON arrays.
    std::string to_string() const;
};

// Collects issues under a policy; with Stop, add() throws DataError naming file:line: reason.
class IssueLog {
public:
    explicit IssueLog(BadDataPolicy policy) : m_policy(policy) {}
    void add(DataIssue issue);
    const std::vector<DataIssue>& issues() const { return m_issues; }
    std::vector<DataIssue> take() { return std::move(m_issues); }

private:
    BadDataPolicy m_policy;
    std::vector<DataIssue> m_issues;
};

}  // namespace qls
