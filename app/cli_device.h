// The backend a command runs on, from --device (default auto), announced on stderr with the
// reason so that a user always sees where the work runs.
#pragma once
#include <string>

#include "core/backend/backend_registry.h"

namespace qls::cli {

BackendChoice choose_backend(const std::string& device);

}  // namespace qls::cli
