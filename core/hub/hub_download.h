// Fetch a model from the Hugging Face Hub into the shared cache (see hf_cache.h), as
// huggingface_hub does: one listing request for the revision's commit and files, then each wanted
// file from /ORG/NAME/resolve/COMMIT/FILE (redirects followed), resumed from its .incomplete
// part, checked against the LFS sha256 where the Hub gives one, and linked into the snapshot.
// A snapshot that already holds everything is used without any request, so a model that
// transformers downloaded opens offline.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/hub/hub_endpoint.h"

namespace qls {

enum class HubFetch {
    Model,       // config, generation config, tokenizer files, safetensors weights (+ index)
    ConfigOnly,  // config.json alone: enough for a memory estimate
};

// (file, bytes of it held, its size); returning false cancels (Cancelled is thrown).
using HubProgressFn = std::function<bool(const std::string& file, std::uint64_t done, std::uint64_t total)>;

struct HubDownload {
    std::filesystem::path snapshot;  // the folder the loaders open
    std::string commit;
    bool from_cache = false;           // nothing was requested
    std::vector<std::string> fetched;  // files transferred (not already in blobs/)
    std::vector<std::string> skipped;  // optional files the Hub listed but would not serve (404)
};

HubDownload download_from_hub(const HubSettings& settings, const HubModelRef& ref, HubFetch what,
                              const HubProgressFn& progress = {});

// Whether a snapshot folder holds a complete model: config.json, a tokenizer, and every weight
// file (each shard the index names, or a .safetensors file).
bool hub_snapshot_complete(const std::filesystem::path& snapshot, HubFetch what);

}  // namespace qls
