// qlora download ID|URL [--revision REV]
#include <cstdio>

#include "app/cli_commands.h"
#include "app/cli_hub_progress.h"
#include "core/hub/hub_download.h"

namespace qls::cli {

const char* const kDownloadUsage =
    "usage: qlora download ORG/NAME|URL [--revision REV]\n"
    "  Fetch a model from the Hugging Face Hub (config, tokenizer files, safetensors weights) into\n"
    "  the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) and\n"
    "  print its snapshot folder, which every command opens as MODEL. Partial files resume; LFS\n"
    "  files are checked against their sha256; a model already in the cache (transformers' too) is\n"
    "  used without a request. HF_TOKEN (or $HF_HOME/token) is sent for gated and private models;\n"
    "  HF_ENDPOINT names another Hub.\n"
    "  --revision REV   branch, tag or commit (default: main, or the one in the URL)\n";

int run_download(const std::vector<std::string>& raw) {
    const Args args(raw, {}, {"revision"});
    args.expect_positional(1);
    HubModelRef ref = parse_hub_model_ref(args.positional()[0]);
    if (auto r = args.option("revision")) ref.revision = *r;
    const HubDownload d =
        download_from_hub(hub_settings_from_environment(), ref, HubFetch::Model, terminal_hub_progress());
    if (d.from_cache)
        std::fprintf(stderr, "%s (%s) is already in the cache\n", ref.repo_id.c_str(), d.commit.c_str());
    else
        std::fprintf(stderr, "%s (%s): %zu file(s) downloaded%s\n", ref.repo_id.c_str(), d.commit.c_str(),
                     d.fetched.size(), d.skipped.empty() ? "" : ", some optional files not served");
    for (const auto& s : d.skipped) std::fprintf(stderr, "  skipped %s (the Hub answered 404)\n", s.c_str());
    std::printf("%s\n", d.snapshot.string().c_str());
    return 0;
}

}  // namespace qls::cli
