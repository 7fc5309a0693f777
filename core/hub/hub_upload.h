// Publish a folder to a Hugging Face model repository with the Hub's own upload protocol, as
// huggingface_hub's upload_folder does: create the repository (an existing one is fine), ask
// /preupload which files go through LFS, upload those to the storage the LFS batch API names
// (then verify when asked), and make one commit whose NDJSON body carries the small files inline
// as base64 and the LFS files by sha256. Never runs without a repository name and a token.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "core/hub/hub_download.h"
#include "core/hub/hub_endpoint.h"

namespace qls {

struct HubPushFile {
    std::filesystem::path local;
    std::string path_in_repo;
};

// What a push of `source` sends: a run folder's adapter/ (the PEFT adapter and its model card),
// an export folder's files (hidden files such as the export manifest left out), or one exported
// file (a GGUF) with the Ollama Modelfile beside it if there is one.
std::vector<HubPushFile> hub_push_files(const std::filesystem::path& source);

struct HubPushOptions {
    std::string repo_id;  // ORG/NAME, required
    bool is_private = false;
    std::string message = "Upload with QLoRA Studio";
    std::string revision = "main";
};

struct HubPushResult {
    std::string commit_url;
    std::string commit_oid;
    std::vector<std::string> lfs_files;      // uploaded to LFS storage (or already there)
    std::vector<std::string> regular_files;  // inline in the commit
};

// Throws ConfigError without a token or with a repository name that is not ORG/NAME, HttpError
// naming the request the Hub refused.
HubPushResult push_to_hub(const HubSettings& settings, const HubPushOptions& options,
                          const std::vector<HubPushFile>& files, const HubProgressFn& progress = {});

}  // namespace qls
