// qlora push RUN|EXPORT --repo ORG/NAME [--private] [--message M]
#include <cstdio>

#include "app/cli_commands.h"
#include "app/cli_format.h"
#include "app/cli_hub_progress.h"
#include "core/hub/hub_upload.h"

namespace qls::cli {

const char* const kPushUsage =
    "usage: qlora push RUN|EXPORT --repo ORG/NAME [--private] [--message M]\n"
    "  Upload a run's adapter (its adapter/ folder with the model card), an export folder (PEFT or\n"
    "  merged) or an exported GGUF file to a Hugging Face model repository, creating it if needed.\n"
    "  Needs a token with write access: HF_TOKEN, or $HF_HOME/token from 'huggingface-cli login'.\n"
    "  --repo ORG/NAME  the repository (required: nothing is uploaded without it)\n"
    "  --private        create the repository private\n"
    "  --message M      the commit message\n";

int run_push(const std::vector<std::string>& raw) {
    const Args args(raw, {"private"}, {"repo", "message"});
    args.expect_positional(1);
    const auto repo = args.option("repo");
    if (!repo) throw UsageError("--repo ORG/NAME is required: name the repository to upload to");
    const HubSettings settings = hub_settings_from_environment();
    if (!settings.token)
        throw UsageError("no Hugging Face token: set HF_TOKEN or run 'huggingface-cli login' (write access)");
    HubPushOptions o;
    o.repo_id = *repo;
    o.is_private = args.flag("private");
    if (auto m = args.option("message")) o.message = *m;
    const auto files = hub_push_files(args.positional()[0]);
    std::fprintf(stderr, "uploading to %s/%s:\n", settings.endpoint.c_str(), o.repo_id.c_str());
    for (const auto& f : files)
        std::fprintf(stderr, "  %-40s %s\n", f.path_in_repo.c_str(),
                     format_bytes(std::filesystem::file_size(f.local)).c_str());
    const HubPushResult r = push_to_hub(settings, o, files, terminal_hub_progress());
    std::fprintf(stderr, "committed %zu file(s) (%zu through LFS)\n",
                 r.lfs_files.size() + r.regular_files.size(), r.lfs_files.size());
    std::printf("%s\n", r.commit_url.empty() ? r.commit_oid.c_str() : r.commit_url.c_str());
    return 0;
}

}  // namespace qls::cli
