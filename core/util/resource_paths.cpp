#include "core/util/resource_paths.h"

#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include "core/util/error.h"

namespace qls {

namespace {

namespace fs = std::filesystem;

bool is_dir(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p, ec);
}

// The installed layout: bin/qlora-studio next to share/qlora-studio/resources.
fs::path installed_resources() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    return exe.parent_path().parent_path() / "share" / "qlora-studio" / "resources";
}

}  // namespace

fs::path resources_dir() {
    if (const char* env = std::getenv("QLS_RESOURCES_DIR"); env && *env) {
        // An explicit choice that is wrong is an error, not a reason to look elsewhere.
        QLS_CHECK(IoError, is_dir(env), "QLS_RESOURCES_DIR is '", env, "', which is not a folder");
        return env;
    }
    std::vector<fs::path> tried;
    const fs::path installed = installed_resources();
    if (!installed.empty()) tried.push_back(installed);
#ifdef QLS_SOURCE_RESOURCES_DIR
    tried.emplace_back(QLS_SOURCE_RESOURCES_DIR);
#endif
    for (const fs::path& p : tried)
        if (is_dir(p)) return p;
    std::vector<std::string> names;
    for (const fs::path& p : tried) names.push_back("'" + p.string() + "'");
    throw IoError(str_cat("the resources folder was not found (looked in ", names,
                          "); set QLS_RESOURCES_DIR to the folder that holds demo/"));
}

fs::path demo_model_dir() {
    const fs::path dir = resources_dir() / "demo" / "model";
    std::error_code ec;
    QLS_CHECK(IoError, fs::is_regular_file(dir / "config.json", ec), "the demo model is missing: '",
              (dir / "config.json").string(), "' does not exist");
    return dir;
}

}  // namespace qls
