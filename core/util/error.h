// Errors at the core boundary. QLS_CHECK is for bad input (a file, a config, a dataset) and
// throws a typed error the UI and CLI show as a message; QLS_ASSERT is for bugs. Both throw:
// nothing in core/ or kernels/ may exit or abort.
#pragma once
#include <exception>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qls {

class Error : public std::exception {
public:
    explicit Error(std::string message) : m_message(std::move(message)) {}
    const char* what() const noexcept override { return m_message.c_str(); }
    const std::string& message() const noexcept { return m_message; }
    // Callers add where they were as the error passes: "while loading x: <message>".
    void add_context(std::string_view context) { m_message = std::string(context) + ": " + m_message; }

private:
    std::string m_message;
};

// A file or tensor is malformed, truncated or of an unsupported kind.
class FormatError : public Error { using Error::Error; };
// A dataset line or field is unusable.
class DataError : public Error { using Error::Error; };
// A setting or hyperparameter is impossible or inconsistent.
class ConfigError : public Error { using Error::Error; };
// The operating system refused (open, read, write, rename, disk full).
class IoError : public Error { using Error::Error; };
// A broken invariant inside our own code.
class InternalError : public Error { using Error::Error; };

namespace detail {
template <typename T>
void append(std::ostringstream& os, const T& v) {
    if constexpr (requires { v.begin(); v.end(); } && !std::is_convertible_v<T, std::string_view>) {
        os << '[';
        bool first = true;
        for (const auto& x : v) {
            if (!first) os << ", ";
            first = false;
            os << x;
        }
        os << ']';
    } else {
        os << v;
    }
}
}  // namespace detail

// Concatenate anything streamable; ranges (shapes) print as [a, b, c].
template <typename... Args>
std::string str_cat(const Args&... args) {
    std::ostringstream os;
    (detail::append(os, args), ...);
    return os.str();
}

// Run f; if it throws a qls::Error, prefix the message with context and rethrow.
template <typename F>
decltype(auto) with_context(std::string_view context, F&& f) {
    try {
        return std::forward<F>(f)();
    } catch (Error& e) {
        e.add_context(context);
        throw;
    }
}

}  // namespace qls

#define QLS_CHECK(Type, cond, ...)                                       \
    do {                                                                 \
        if (!(cond)) throw ::qls::Type(::qls::str_cat(__VA_ARGS__));     \
    } while (0)

#define QLS_ASSERT(cond, ...)                                                                  \
    do {                                                                                       \
        if (!(cond))                                                                           \
            throw ::qls::InternalError(::qls::str_cat("internal error at ", __FILE__, ":",     \
                                                      __LINE__, " (", #cond, "): ", __VA_ARGS__)); \
    } while (0)
