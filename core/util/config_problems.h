// Every problem of a set of settings at once, each with the setting it belongs to (the dotted
// run.json key, "optim.learning_rate") and a message in the user's words ("must be a number
// greater than 0; this is not a number"). A form shows each message beside its field; the CLI
// and the library's validate() throw them all in one ConfigError, keys first.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "core/util/error.h"

namespace qls {

struct ConfigProblem {
    std::string field;    // run.json key, dotted
    std::string message;  // what is wrong and what is allowed, no key
};

class ConfigProblems {
public:
    // `prefix` goes before every field ("optim." for the optimizer's settings inside run.json).
    explicit ConfigProblems(std::string prefix = {}) : m_prefix(std::move(prefix)) {}

    template <typename... Parts>
    void require(bool ok, std::string_view field, const Parts&... message) {
        if (!ok) add(field, str_cat(message...));
    }
    void add(std::string_view field, std::string message);
    // Runs `check` (a function that throws ConfigError) and records its message under `field`:
    // for rules that live in a throwing check shared with other callers.
    template <typename Check>
    void capture(std::string_view field, Check&& check) {
        try {
            check();
        } catch (const ConfigError& e) {
            add(field, e.message());
        }
    }
    // The problems of a nested part, its fields under this one's prefix.
    void merge(const ConfigProblems& nested);

    const std::vector<ConfigProblem>& list() const { return m_list; }
    bool empty() const { return m_list.empty(); }
    // ConfigError "key: message; key2: message2" when there is any problem.
    void throw_if_any() const;

private:
    std::string m_prefix;
    std::vector<ConfigProblem> m_list;
};

// A number as a message shows what was given: "got 0.5", "this is not a number", "this is infinite".
std::string given(double value);

}  // namespace qls
