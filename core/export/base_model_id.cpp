// Hub cache layout: huggingface_hub's file_download.py (repo_folder_name: "models--" + the repo
// ID with "/" as "--"; files under snapshots/<revision>/). GGUF source keys: gguf-py
// constants.py Keys.General (SOURCE_REPO_URL, SOURCE_URL; older converters SOURCE_HF_REPO).
#include "core/export/base_model_id.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/io/gguf_reader.h"
#include "core/util/error.h"

namespace qls {

namespace fs = std::filesystem;

namespace {

bool is_repo_part(std::string_view s) {
    return !s.empty() && s.size() <= 96 && s.find("--") == std::string_view::npos &&
           s.find("..") == std::string_view::npos && s.front() != '.' && s.front() != '-' &&
           std::all_of(s.begin(), s.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.'; });
}

// ".../models--ORG--NAME/snapshots/REV[/...]" -> "ORG/NAME".
std::string hub_id_from_cache_path(const fs::path& absolute) {
    const std::vector<fs::path> parts(absolute.begin(), absolute.end());
    for (std::size_t i = 0; i + 2 < parts.size(); ++i) {
        const std::string folder = parts[i].string();
        if (!folder.starts_with("models--") || parts[i + 1] != "snapshots") continue;
        std::string id = folder.substr(8);
        if (const auto sep = id.find("--"); sep != std::string::npos) id.replace(sep, 2, "/");
        if (is_hub_id(id)) return id;
    }
    return {};
}

std::string name_or_path_in_config(const fs::path& folder) {
    std::ifstream in(folder / "config.json", std::ios::binary);
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("_name_or_path") || !j["_name_or_path"].is_string())
        return {};
    const std::string name = j["_name_or_path"].get<std::string>();
    std::error_code ec;
    return is_hub_id(name) && !fs::exists(name, ec) ? name : std::string();
}

std::string hub_id_in_gguf(const fs::path& file) {
    const GgufFile g(file);
    if (const auto repo = g.get_string("general.source.huggingface.repository"); repo && is_hub_id(*repo))
        return *repo;
    for (const char* key : {"general.source.repo_url", "general.source.url"})
        if (const auto url = g.get_string(key))
            if (std::string id = hub_id_from_url(*url); !id.empty()) return id;
    return {};
}

}  // namespace

bool is_hub_id(std::string_view s) {
    const auto slash = s.find('/');
    return slash != std::string_view::npos && is_repo_part(s.substr(0, slash)) && is_repo_part(s.substr(slash + 1));
}

std::string hub_id_from_url(std::string_view url) {
    for (std::string_view prefix : {"https://huggingface.co/", "http://huggingface.co/", "https://hf.co/"}) {
        if (!url.starts_with(prefix)) continue;
        std::string_view rest = url.substr(prefix.size());
        const auto org_end = rest.find('/');
        if (org_end == std::string_view::npos) return {};
        const auto name_end = rest.find_first_of("/?#", org_end + 1);
        const std::string id(rest.substr(0, name_end));
        return is_hub_id(id) && !id.starts_with("datasets/") && !id.starts_with("spaces/") ? id : std::string();
    }
    return {};
}

std::string base_model_id(const fs::path& model_path) {
    // The path as given first: a cached file is a symlink into blobs/, which its canonical path
    // shows instead of the snapshot.
    fs::path absolute = fs::absolute(model_path).lexically_normal();
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(absolute, ec);
    for (const fs::path& p : {absolute, canonical})
        if (std::string id = hub_id_from_cache_path(p); !id.empty()) return id;
    const bool gguf = model_path.extension() == ".gguf" && !fs::is_directory(model_path, ec);
    const std::string id = with_context("while finding the Hub ID of " + model_path.string(), [&] {
        return gguf ? hub_id_in_gguf(model_path) : name_or_path_in_config(model_path);
    });
    if (!id.empty()) return id;
    while (!absolute.empty() && !absolute.has_filename()) absolute = absolute.parent_path();  // "dir/" -> "dir"
    return absolute.string();
}

}  // namespace qls
