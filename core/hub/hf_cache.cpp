#include "core/hub/hf_cache.h"

#include <fstream>

#include "core/util/error.h"

namespace qls {

namespace fs = std::filesystem;

std::string hf_repo_folder_name(const std::string& repo_id) {
    std::string name = "models--";
    for (char c : repo_id) {
        if (c == '/')
            name += "--";
        else
            name += c;
    }
    return name;
}

HfRepoCache::HfRepoCache(const fs::path& cache_root, const std::string& repo_id)
    : m_dir(cache_root / hf_repo_folder_name(repo_id)) {}

fs::path HfRepoCache::incomplete_blob(const std::string& etag) const {
    return blob(etag + ".incomplete");
}

std::optional<std::string> HfRepoCache::commit_of(const std::string& revision) const {
    std::error_code ec;
    if (fs::is_directory(snapshot(revision), ec)) return revision;
    std::ifstream in(m_dir / "refs" / revision);
    std::string commit;
    if (!in || !std::getline(in, commit) || commit.empty()) return std::nullopt;
    return commit;
}

void HfRepoCache::write_ref(const std::string& revision, const std::string& commit) const {
    if (revision == commit) return;
    const fs::path ref = m_dir / "refs" / revision;
    fs::create_directories(ref.parent_path());
    const fs::path tmp = ref.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << commit;
        QLS_CHECK(IoError, out.good(), "cannot write '", tmp.string(), "'");
    }
    fs::rename(tmp, ref);
}

void HfRepoCache::link(const std::string& commit, const std::string& file, const std::string& etag) const {
    const fs::path target = snapshot(commit) / file;
    fs::create_directories(target.parent_path());
    // From snapshots/<commit>/<dirs...>/ back up to the repo folder, then into blobs.
    fs::path up = "..";
    up /= "..";
    for (const auto& part : fs::path(file).parent_path()) {
        (void)part;
        up /= "..";
    }
    std::error_code ec;
    fs::remove(target, ec);
    fs::create_symlink(up / "blobs" / etag, target);
}

}  // namespace qls
