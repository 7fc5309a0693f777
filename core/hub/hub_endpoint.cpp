#include "core/hub/hub_endpoint.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <regex>

#include "core/util/error.h"

namespace qls {

namespace {

std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
}

std::filesystem::path hf_home() {
    if (auto h = env("HF_HOME")) return *h;
    if (auto x = env("XDG_CACHE_HOME")) return std::filesystem::path(*x) / "huggingface";
    const auto home = env("HOME");
    QLS_CHECK(ConfigError, home.has_value(),
              "neither HF_HOME nor HOME is set: cannot place the Hugging Face cache");
    return std::filesystem::path(*home) / ".cache" / "huggingface";
}

std::string trimmed(std::string s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

// Hub repository names: letters, digits, '-', '_', '.'; neither part starts with '.' or '-'.
const std::regex& repo_pattern() {
    static const std::regex re(R"([A-Za-z0-9_][A-Za-z0-9_.\-]*/[A-Za-z0-9_][A-Za-z0-9_.\-]*)");
    return re;
}

}  // namespace

HubSettings hub_settings_from_environment() {
    HubSettings s;
    s.endpoint = env("HF_ENDPOINT").value_or("https://huggingface.co");
    while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
    const std::filesystem::path home = hf_home();
    if (auto c = env("HF_HUB_CACHE"))
        s.cache_root = *c;
    else
        s.cache_root = home / "hub";
    if (auto t = env("HF_TOKEN")) {
        s.token = trimmed(*t);
    } else {
        std::ifstream in(home / "token");
        std::string line;
        if (in && std::getline(in, line) && !trimmed(line).empty()) s.token = trimmed(line);
    }
    return s;
}

HubModelRef parse_hub_model_ref(const std::string& text) {
    std::string rest = trimmed(text);
    // A URL: drop scheme and host; whatever host it names, downloads go to the configured endpoint.
    if (const auto scheme = rest.find("://"); scheme != std::string::npos) {
        const auto path = rest.find('/', scheme + 3);
        rest = path == std::string::npos ? std::string() : rest.substr(path + 1);
    }
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    HubModelRef ref{rest, "main"};
    // ORG/NAME/tree/REV or ORG/NAME/resolve/REV/...: the revision follows the marker.
    for (const char* marker : {"/tree/", "/resolve/", "/blob/"}) {
        const auto at = rest.find(marker);
        if (at == std::string::npos) continue;
        ref.repo_id = rest.substr(0, at);
        std::string rev = rest.substr(at + std::string(marker).size());
        ref.revision = rev.substr(0, rev.find('/'));
        break;
    }
    QLS_CHECK(ConfigError, std::regex_match(ref.repo_id, repo_pattern()) && !ref.revision.empty(), "'", text,
              "' is not a Hugging Face model: expected ORG/NAME or https://huggingface.co/ORG/NAME");
    return ref;
}

bool looks_like_hub_ref(const std::string& text) {
    if (text.rfind("http://", 0) == 0 || text.rfind("https://", 0) == 0) return true;
    std::error_code ec;
    if (std::filesystem::exists(text, ec)) return false;
    return std::regex_match(text, repo_pattern());
}

}  // namespace qls

namespace qls {

std::string url_quote(const std::string& text, bool keep_slash) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

}  // namespace qls
