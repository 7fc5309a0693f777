// Where the Hugging Face Hub is and who we are to it, read from the environment the way
// huggingface_hub reads it, and the model references a user types (ID or URL).
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace qls {

struct HubSettings {
    std::string endpoint;              // HF_ENDPOINT, else https://huggingface.co (no trailing slash)
    std::filesystem::path cache_root;  // HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
    std::optional<std::string> token;  // HF_TOKEN, else the token file $HF_HOME/token
};

HubSettings hub_settings_from_environment();

struct HubModelRef {
    std::string repo_id;   // "ORG/NAME"
    std::string revision;  // "main" unless the reference names one
};

// "ORG/NAME", "https://huggingface.co/ORG/NAME" or ".../ORG/NAME/tree/REV". Throws ConfigError
// naming the text when it is none of these.
HubModelRef parse_hub_model_ref(const std::string& text);

// Whether text reads as a Hub reference rather than a local path: a URL, or ORG/NAME that is
// not an existing file or folder.
bool looks_like_hub_ref(const std::string& text);

}  // namespace qls

namespace qls {

// Percent-encodes everything but RFC 3986's unreserved characters; keep_slash leaves '/' as is
// (file paths inside a repository).
std::string url_quote(const std::string& text, bool keep_slash);

}  // namespace qls
