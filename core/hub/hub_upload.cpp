#include "core/hub/hub_upload.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/hub/base64.h"
#include "core/hub/hub_http.h"
#include "core/hub/sha256.h"
#include "core/util/error.h"

namespace qls {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// huggingface_hub sends the first 512 bytes so the Hub can tell text from binary.
constexpr std::size_t kSampleBytes = 512;

std::string read_bytes(const fs::path& file, std::size_t limit) {
    std::ifstream in(file, std::ios::binary);
    QLS_CHECK(IoError, in.good(), "cannot read '", file.string(), "'");
    std::string bytes(limit, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(limit));
    bytes.resize(static_cast<std::size_t>(in.gcount()));
    return bytes;
}

json parse_answer(const HttpResponse& r, const std::string& what) {
    try {
        return json::parse(r.body);
    } catch (const json::exception& e) {
        throw FormatError(str_cat(what, ": the Hub's answer is not JSON: ", e.what()));
    }
}

std::vector<std::string> header_lines(const json& action) {
    std::vector<std::string> out;
    if (action.contains("header") && action["header"].is_object())
        for (const auto& [k, v] : action["header"].items()) out.push_back(k + ": " + v.get<std::string>());
    return out;
}

struct Prepared {
    HubPushFile file;
    std::uint64_t size = 0;
    std::string sha256;
    std::string mode;  // "lfs" or "regular"
};

void add_folder(const fs::path& dir, std::vector<HubPushFile>& out) {
    std::vector<HubPushFile> found;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
        const std::string name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
            if (it->is_directory()) it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file())
            found.push_back({it->path(), fs::relative(it->path(), dir).generic_string()});
    }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.path_in_repo < b.path_in_repo; });
    out.insert(out.end(), found.begin(), found.end());
}

}  // namespace

std::vector<HubPushFile> hub_push_files(const fs::path& source) {
    std::error_code ec;
    std::vector<HubPushFile> files;
    if (fs::is_regular_file(source, ec)) {
        files.push_back({source, source.filename().string()});
        fs::path modelfile = source;
        modelfile.replace_extension(".Modelfile");
        if (fs::is_regular_file(modelfile, ec)) files.push_back({modelfile, modelfile.filename().string()});
        return files;
    }
    QLS_CHECK(IoError, fs::is_directory(source, ec), "'", source.string(),
              "' is neither a run, an export folder nor a file");
    // A run folder: its final adapter, not checkpoints, logs or the dataset cache.
    const fs::path adapter = source / "adapter";
    add_folder(fs::is_regular_file(adapter / "adapter_config.json", ec) ? adapter : source, files);
    QLS_CHECK(IoError, !files.empty(), "'", source.string(), "' holds no files to upload");
    return files;
}

HubPushResult push_to_hub(const HubSettings& settings, const HubPushOptions& options,
                          const std::vector<HubPushFile>& files, const HubProgressFn& progress) {
    QLS_CHECK(ConfigError, settings.token.has_value() && !settings.token->empty(),
              "no Hugging Face token: set HF_TOKEN or log in with 'huggingface-cli login' (a token with "
              "write access)");
    QLS_CHECK(ConfigError, !options.repo_id.empty(), "no repository named: pushing needs --repo ORG/NAME");
    const HubModelRef ref = parse_hub_model_ref(options.repo_id);
    QLS_CHECK(ConfigError, ref.repo_id == options.repo_id, "'", options.repo_id,
              "' is not a repository name ORG/NAME");
    QLS_CHECK(ConfigError, !files.empty(), "nothing to upload");
    HubHttp http(settings.endpoint, settings.token);
    const std::string& repo = ref.repo_id;
    const std::string rev = url_quote(options.revision, false);
    const std::vector<std::string> json_headers = {"Content-Type: application/json"};

    // 1. The repository; 409 says it exists already, which is fine.
    const auto slash = repo.find('/');
    const json create = {{"name", repo.substr(slash + 1)},
                         {"organization", repo.substr(0, slash)},
                         {"private", options.is_private}};
    try {
        http.request("POST", settings.endpoint + "/api/repos/create", create.dump(), json_headers);
    } catch (const HttpError& e) {
        if (e.status() != 409) throw;
    }

    // 2. Hash every file, then ask which go through LFS.
    std::vector<Prepared> prepared;
    json preupload = {{"files", json::array()}};
    for (const auto& f : files) {
        Prepared p{f, fs::file_size(f.local), {}, "regular"};
        p.sha256 = sha256_hex_of_file(f.local, [&](std::size_t done, std::size_t total) {
            return !progress || progress("hashing " + f.path_in_repo, done, total);
        });
        preupload["files"].push_back({{"path", f.path_in_repo},
                                      {"sample", base64_encode(read_bytes(f.local, kSampleBytes))},
                                      {"size", p.size}});
        prepared.push_back(std::move(p));
    }
    const std::string preupload_url = settings.endpoint + "/api/models/" + repo + "/preupload/" + rev;
    const json modes =
        parse_answer(http.request("POST", preupload_url, preupload.dump(), json_headers), preupload_url);
    std::map<std::string, std::pair<std::string, bool>> mode_of;  // path -> (mode, should ignore)
    for (const auto& m : modes.value("files", json::array()))
        mode_of[m.value("path", "")] = {m.value("uploadMode", "regular"), m.value("shouldIgnore", false)};
    std::vector<Prepared> sent;
    for (auto& p : prepared) {
        const auto it = mode_of.find(p.file.path_in_repo);
        QLS_CHECK(FormatError, it != mode_of.end(), preupload_url, ": the Hub gave no upload mode for ",
                  p.file.path_in_repo);
        if (it->second.second) continue;  // the repository's .gitignore excludes it
        p.mode = it->second.first;
        sent.push_back(p);
    }

    // 3. LFS objects: the batch API says where each goes (no actions: the Hub has it already).
    HubPushResult result;
    json objects = json::array();
    for (const auto& p : sent)
        if (p.mode == "lfs") objects.push_back({{"oid", p.sha256}, {"size", p.size}});
    if (!objects.empty()) {
        const std::string batch_url = settings.endpoint + "/" + repo + ".git/info/lfs/objects/batch";
        const json batch = {{"operation", "upload"},
                            {"transfers", {"basic"}},
                            {"objects", objects},
                            {"hash_algo", "sha256"},
                            {"ref", {{"name", options.revision}}}};
        const json answer = parse_answer(http.request("POST", batch_url, batch.dump(),
                                                      {"Accept: application/vnd.git-lfs+json",
                                                       "Content-Type: application/vnd.git-lfs+json"}),
                                         batch_url);
        for (const auto& o : answer.value("objects", json::array())) {
            const std::string oid = o.value("oid", "");
            const auto p =
                std::find_if(sent.begin(), sent.end(), [&](const auto& s) { return s.sha256 == oid; });
            QLS_CHECK(FormatError, p != sent.end(), batch_url,
                      ": the Hub answered for an object we did not send: ", oid);
            if (o.contains("error"))
                throw HttpError(str_cat(batch_url, ": the Hub refused ", p->file.path_in_repo, ": ",
                                        o["error"].value("message", o["error"].dump())),
                                o["error"].value("code", 0));
            if (!o.contains("actions") || !o["actions"].contains("upload")) continue;
            const json& upload = o["actions"]["upload"];
            http.upload_file(upload.at("href").get<std::string>(), p->file.local, header_lines(upload),
                             [&](std::size_t done, std::size_t total) {
                                 return !progress || progress(p->file.path_in_repo, done, total);
                             });
            if (o["actions"].contains("verify")) {
                const json& verify = o["actions"]["verify"];
                std::vector<std::string> h = header_lines(verify);
                h.push_back("Content-Type: application/vnd.git-lfs+json");
                http.request("POST", verify.at("href").get<std::string>(),
                             json({{"oid", p->sha256}, {"size", p->size}}).dump(), h);
            }
        }
    }

    // 4. The commit: a header line, then one line per file.
    std::string body =
        json({{"key", "header"}, {"value", {{"summary", options.message}, {"description", ""}}}}).dump() +
        "\n";
    for (const auto& p : sent) {
        if (p.mode == "lfs") {
            body += json({{"key", "lfsFile"},
                          {"value",
                           {{"path", p.file.path_in_repo},
                            {"algo", "sha256"},
                            {"oid", p.sha256},
                            {"size", p.size}}}})
                        .dump();
            result.lfs_files.push_back(p.file.path_in_repo);
        } else {
            body += json({{"key", "file"},
                          {"value",
                           {{"content", base64_encode(read_bytes(p.file.local, p.size))},
                            {"path", p.file.path_in_repo},
                            {"encoding", "base64"}}}})
                        .dump();
            result.regular_files.push_back(p.file.path_in_repo);
        }
        body += "\n";
    }
    const std::string commit_url = settings.endpoint + "/api/models/" + repo + "/commit/" + rev;
    const json commit = parse_answer(
        http.request("POST", commit_url, body, {"Content-Type: application/x-ndjson"}), commit_url);
    result.commit_url = commit.value("commitUrl", "");
    result.commit_oid = commit.value("commitOid", "");
    return result;
}

}  // namespace qls
