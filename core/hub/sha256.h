// SHA-256 through OpenSSL's libcrypto, as lower-case hex: the Hub names LFS objects by it.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

#include "core/util/progress.h"

namespace qls {

std::string sha256_hex(std::string_view bytes);
// Reads the file in blocks; progress gets (bytes hashed, file size).
std::string sha256_hex_of_file(const std::filesystem::path& file, const ProgressFn& progress = {});

}  // namespace qls
