#include "core/hub/hub_download.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/hub/hf_cache.h"
#include "core/hub/hub_http.h"
#include "core/hub/sha256.h"
#include "core/util/error.h"

namespace qls {

namespace fs = std::filesystem;

namespace {

constexpr const char* kIndex = "model.safetensors.index.json";

// Files a model folder needs besides its weights; only config.json is required.
const std::vector<std::string> kMetadataFiles = {"config.json",
                                                 "generation_config.json",
                                                 "tokenizer.json",
                                                 "tokenizer_config.json",
                                                 "special_tokens_map.json",
                                                 "tokenizer.model",
                                                 kIndex};

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct HubFile {
    std::string name;
    std::optional<std::uint64_t> size;
    std::string etag;    // the blob's name: the LFS sha256, else the git blob id
    std::string sha256;  // LFS files only
};

struct Listing {
    std::string commit;
    std::vector<HubFile> files;
    const HubFile* find(const std::string& name) const {
        for (const auto& f : files)
            if (f.name == name) return &f;
        return nullptr;
    }
};

Listing parse_listing(const std::string& body, const std::string& url) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat(url, ": the Hub's answer is not JSON: ", e.what()));
    }
    QLS_CHECK(FormatError, j.is_object() && j.contains("sha") && j["sha"].is_string(), url,
              ": the Hub's answer has no commit 'sha'");
    Listing l;
    l.commit = j["sha"].get<std::string>();
    for (const auto& s : j.value("siblings", nlohmann::json::array())) {
        HubFile f;
        f.name = s.value("rfilename", "");
        if (f.name.empty()) continue;
        if (s.contains("size") && s["size"].is_number_unsigned()) f.size = s["size"].get<std::uint64_t>();
        if (s.contains("lfs") && s["lfs"].is_object()) {
            f.sha256 = s["lfs"].value("sha256", "");
            if (s["lfs"].contains("size")) f.size = s["lfs"]["size"].get<std::uint64_t>();
        }
        f.etag = f.sha256.empty() ? s.value("blobId", "") : f.sha256;
        QLS_CHECK(FormatError, !f.etag.empty(), url, ": file '", f.name,
                  "' has neither an LFS sha256 nor a blobId");
        l.files.push_back(std::move(f));
    }
    return l;
}

std::vector<std::string> index_shards(const fs::path& index) {
    std::ifstream in(index);
    QLS_CHECK(IoError, in.good(), "cannot read '", index.string(), "'");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat("'", index.string(), "' is not JSON: ", e.what()));
    }
    QLS_CHECK(FormatError, j.contains("weight_map") && j["weight_map"].is_object(), "'", index.string(),
              "' has no weight_map");
    std::set<std::string> shards;
    for (const auto& [tensor, file] : j["weight_map"].items()) shards.insert(file.get<std::string>());
    return {shards.begin(), shards.end()};
}

// A model without an index: model.safetensors when there is one (other .safetensors files
// beside it are not the model's weights), else the .safetensors files at the top.
std::vector<std::string> loose_safetensors(const std::vector<std::string>& names) {
    if (std::find(names.begin(), names.end(), "model.safetensors") != names.end())
        return {"model.safetensors"};
    std::vector<std::string> out;
    for (const auto& n : names)
        if (ends_with(n, ".safetensors") && n.find('/') == std::string::npos) out.push_back(n);
    return out;
}

class Fetcher {
public:
    Fetcher(const HubSettings& s, const HubModelRef& ref, const HfRepoCache& cache,
            const HubProgressFn& progress, HubDownload& result)
        : m_settings(s),
          m_ref(ref),
          m_cache(cache),
          m_progress(progress),
          m_result(result),
          m_http(s.endpoint, s.token) {}

    Listing list() {
        const std::string url = m_settings.endpoint + "/api/models/" + m_ref.repo_id + "/revision/" +
                                url_quote(m_ref.revision, false) + "?blobs=true";
        try {
            return parse_listing(m_http.request("GET", url).body, url);
        } catch (const HttpError& e) {
            if (e.status() == 401 || e.status() == 404)
                throw HttpError(str_cat(m_ref.repo_id, " at revision '", m_ref.revision,
                                        "' is not on the Hub or needs a token (set HF_TOKEN): ", e.what()),
                                e.status());
            throw;
        }
    }

    // Downloads (or finds in blobs/) one listed file and links it into the snapshot. Returns
    // false for an optional file the Hub does not serve.
    bool fetch(const Listing& l, const HubFile& f, bool required) {
        const fs::path blob = m_cache.blob(f.etag);
        std::error_code ec;
        const bool have = fs::is_regular_file(blob, ec) && (!f.size || fs::file_size(blob, ec) == *f.size);
        if (!have) {
            if (!transfer(l, f, required)) return false;
            m_result.fetched.push_back(f.name);
        }
        m_cache.link(l.commit, f.name, f.etag);
        return true;
    }

private:
    // Brings the file's bytes into its .incomplete part; false for an optional file the Hub does
    // not serve.
    bool receive(const std::string& url, const fs::path& part, const HubFile& f, bool required) {
        std::error_code ec;
        const bool held = fs::exists(part, ec);
        // A part longer than the file cannot be resumed; one of full length (a run stopped
        // before the rename) needs no request, only the checks that follow.
        if (held && f.size && fs::file_size(part) > *f.size) fs::remove(part);
        if (held && f.size && fs::exists(part, ec) && fs::file_size(part) == *f.size) return true;
        const ProgressFn progress = [&](std::size_t done, std::size_t total) {
            return !m_progress || m_progress(f.name, done, total);
        };
        try {
            m_http.download(url, part, f.size.value_or(0), progress);
        } catch (const HttpError& e) {
            if (fs::exists(part, ec) && fs::file_size(part, ec) == 0) fs::remove(part, ec);
            if (e.status() == 404 && !required) {
                m_result.skipped.push_back(f.name);
                return false;
            }
            throw HttpError(
                str_cat(
                    "downloading ", f.name, " of ", m_ref.repo_id,
                    e.status() == 404 ? " (a required file)" : "",
                    fs::exists(part, ec) ? " (the part received is kept; downloading again resumes it)" : "",
                    ": ", e.what()),
                e.status());
        }
        return true;
    }

    bool transfer(const Listing& l, const HubFile& f, bool required) {
        fs::create_directories(m_cache.dir() / "blobs");
        const fs::path part = m_cache.incomplete_blob(f.etag);
        const std::string url = m_settings.endpoint + "/" + m_ref.repo_id + "/resolve/" + l.commit + "/" +
                                url_quote(f.name, true);
        if (!receive(url, part, f, required)) return false;
        const std::uint64_t got = fs::file_size(part);
        if (f.size && got != *f.size) {
            if (got > *f.size) fs::remove(part);
            throw IoError(
                str_cat("downloading ", f.name, " of ", m_ref.repo_id, " from ", url, ": got ", got,
                        " bytes, the Hub lists ", *f.size,
                        got < *f.size ? " (the part received is kept; downloading again resumes it)" : ""));
        }
        if (!f.sha256.empty()) {
            const std::string sha = sha256_hex_of_file(part);
            if (sha != f.sha256) {
                fs::remove(part);
                throw FormatError(str_cat("downloading ", f.name, " of ", m_ref.repo_id, " from ", url,
                                          ": its sha256 is ", sha, " but the Hub lists ", f.sha256,
                                          "; the download was discarded"));
            }
        }
        fs::rename(part, m_cache.blob(f.etag));
        return true;
    }

    const HubSettings& m_settings;
    const HubModelRef& m_ref;
    const HfRepoCache& m_cache;
    const HubProgressFn& m_progress;
    HubDownload& m_result;
    HubHttp m_http;
};

bool exists_in(const fs::path& snapshot, const std::string& file) {
    std::error_code ec;
    return fs::is_regular_file(snapshot / file, ec);  // follows the symlink: the blob must be there
}

}  // namespace

bool hub_snapshot_complete(const fs::path& snapshot, HubFetch what) {
    if (!exists_in(snapshot, "config.json")) return false;
    if (what == HubFetch::ConfigOnly) return true;
    if (!exists_in(snapshot, "tokenizer.json") && !exists_in(snapshot, "tokenizer.model")) return false;
    std::vector<std::string> weights;
    if (exists_in(snapshot, kIndex)) {
        weights = index_shards(snapshot / kIndex);
    } else {
        std::vector<std::string> names;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(snapshot, ec))
            names.push_back(e.path().filename().string());
        weights = loose_safetensors(names);
    }
    return !weights.empty() &&
           std::all_of(weights.begin(), weights.end(), [&](const auto& w) { return exists_in(snapshot, w); });
}

HubDownload download_from_hub(const HubSettings& settings, const HubModelRef& ref, HubFetch what,
                              const HubProgressFn& progress) {
    const HfRepoCache cache(settings.cache_root, ref.repo_id);
    HubDownload result;
    if (const auto commit = cache.commit_of(ref.revision);
        commit && hub_snapshot_complete(cache.snapshot(*commit), what)) {
        result.snapshot = cache.snapshot(*commit);
        result.commit = *commit;
        result.from_cache = true;
        return result;
    }
    Fetcher fetcher(settings, ref, cache, progress, result);
    const Listing listing = fetcher.list();
    result.commit = listing.commit;
    result.snapshot = cache.snapshot(listing.commit);

    const HubFile* config = listing.find("config.json");
    QLS_CHECK(ConfigError, config != nullptr, ref.repo_id, " at revision '", ref.revision,
              "' has no config.json: it is not a transformers model");
    if (what == HubFetch::ConfigOnly) {
        fetcher.fetch(listing, *config, true);
    } else {
        for (const auto& name : kMetadataFiles)
            if (const HubFile* f = listing.find(name))
                fetcher.fetch(listing, *f, name == "config.json" || name == kIndex);
        std::vector<std::string> weights;
        if (listing.find(kIndex)) {
            weights = index_shards(result.snapshot / kIndex);
        } else {
            std::vector<std::string> names;
            for (const auto& f : listing.files) names.push_back(f.name);
            weights = loose_safetensors(names);
        }
        QLS_CHECK(ConfigError, !weights.empty(), ref.repo_id, " at revision '", ref.revision,
                  "' has no .safetensors weights (qlora reads safetensors, not .bin/.pt)");
        for (const auto& w : weights) {
            const HubFile* f = listing.find(w);
            QLS_CHECK(FormatError, f != nullptr, ref.repo_id, ": ", kIndex, " names ", w,
                      " which the Hub does not list");
            fetcher.fetch(listing, *f, true);
        }
    }
    cache.write_ref(ref.revision, listing.commit);
    return result;
}

}  // namespace qls
