// Where the files that ship with the program (the demo model and data set) live: in an
// install, in the build's source tree, or where QLS_RESOURCES_DIR points.
#pragma once
#include <filesystem>

namespace qls {

// The resources/ folder: $QLS_RESOURCES_DIR when set, else <exe>/../share/qlora-studio/resources
// (an install), else the source tree the program was built from. Throws IoError listing the
// places it looked when none exists.
std::filesystem::path resources_dir();

// resources_dir()/demo/model; throws IoError when it holds no config.json.
std::filesystem::path demo_model_dir();

}  // namespace qls
