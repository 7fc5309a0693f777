#include "core/util/config_problems.h"

#include <cmath>

namespace qls {

void ConfigProblems::add(std::string_view field, std::string message) {
    m_list.push_back({m_prefix + std::string(field), std::move(message)});
}

void ConfigProblems::merge(const ConfigProblems& nested) {
    for (const ConfigProblem& p : nested.list()) m_list.push_back({m_prefix + p.field, p.message});
}

void ConfigProblems::throw_if_any() const {
    if (m_list.empty()) return;
    std::string text;
    for (const ConfigProblem& p : m_list) text += str_cat(text.empty() ? "" : "; ", p.field, ": ", p.message);
    throw ConfigError(text);
}

std::string given(double value) {
    if (std::isnan(value)) return "this is not a number";
    if (std::isinf(value)) return "this is infinite";
    return str_cat("got ", value);
}

}  // namespace qls
