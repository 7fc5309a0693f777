#include <algorithm>

#include "app/cli_commands.h"

namespace qls::cli {

Args::Args(const std::vector<std::string>& args, const std::vector<std::string>& flags,
           const std::vector<std::string>& options) {
    auto known = [](const std::vector<std::string>& list, const std::string& n) {
        return std::find(list.begin(), list.end(), n) != list.end();
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() < 3 || a.rfind("--", 0) != 0) {
            m_positional.push_back(a);
            continue;
        }
        std::string name = a.substr(2), value;
        const auto eq = name.find('=');
        const bool inline_value = eq != std::string::npos;
        if (inline_value) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (known(flags, name) && !inline_value) {
            m_flags_set.push_back(name);
        } else if (known(options, name)) {
            if (!inline_value) {
                if (i + 1 >= args.size()) throw UsageError("option --" + name + " needs a value");
                value = args[++i];
            }
            m_options.emplace_back(name, value);
        } else {
            throw UsageError("unknown option --" + name);
        }
    }
}

bool Args::flag(const std::string& name) const {
    return std::find(m_flags_set.begin(), m_flags_set.end(), name) != m_flags_set.end();
}

std::optional<std::string> Args::option(const std::string& name) const {
    std::optional<std::string> v;
    for (const auto& [n, val] : m_options)
        if (n == name) v = val;  // the last occurrence wins, as in most tools
    return v;
}

std::vector<std::string> Args::options(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [n, val] : m_options)
        if (n == name) out.push_back(val);
    return out;
}

void Args::expect_positional(std::size_t n) const {
    if (m_positional.size() != n)
        throw UsageError("expected " + std::to_string(n) + " argument(s), got " +
                         std::to_string(m_positional.size()));
}

}  // namespace qls::cli
