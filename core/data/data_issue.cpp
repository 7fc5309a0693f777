#include "core/data/data_issue.h"

#include "core/util/error.h"

namespace qls {

std::string DataIssue::to_string() const {
    if (element > 0) return str_cat(file, ":", line, " (element ", element, "): ", reason);
    return str_cat(file, ":", line, ": ", reason);
}

void IssueLog::add(DataIssue issue) {
    if (m_policy == BadDataPolicy::Stop) throw DataError(issue.to_string());
    m_issues.push_back(std::move(issue));
}

}  // namespace qls
