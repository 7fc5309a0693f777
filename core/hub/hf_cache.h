// The Hugging Face cache layout, shared with transformers and huggingface_hub:
//   <root>/models--ORG--NAME/blobs/<etag>                 file contents (etag: LFS sha256 or git blob id)
//   <root>/models--ORG--NAME/blobs/<etag>.incomplete      a download in progress, resumed from its size
//   <root>/models--ORG--NAME/snapshots/<commit>/<file>    relative symlinks to ../../blobs/<etag>
//   <root>/models--ORG--NAME/refs/<revision>              the commit a branch or tag pointed to
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace qls {

class HfRepoCache {
public:
    HfRepoCache(const std::filesystem::path& cache_root, const std::string& repo_id);

    const std::filesystem::path& dir() const { return m_dir; }
    std::filesystem::path blob(const std::string& etag) const { return m_dir / "blobs" / etag; }
    std::filesystem::path incomplete_blob(const std::string& etag) const;
    std::filesystem::path snapshot(const std::string& commit) const { return m_dir / "snapshots" / commit; }

    // The commit a revision names: itself when it is a snapshot's commit, else refs/<revision>.
    std::optional<std::string> commit_of(const std::string& revision) const;
    void write_ref(const std::string& revision, const std::string& commit) const;

    // Points snapshots/<commit>/<file> at blobs/<etag> by a relative symlink (replacing one there).
    void link(const std::string& commit, const std::string& file, const std::string& etag) const;

private:
    std::filesystem::path m_dir;
};

// "models--ORG--NAME".
std::string hf_repo_folder_name(const std::string& repo_id);

}  // namespace qls
