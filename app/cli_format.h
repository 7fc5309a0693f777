// Human-readable numbers for the CLI's tables.
#pragma once
#include <cstdint>
#include <string>

namespace qls::cli {

std::string format_bytes(std::uint64_t bytes);  // "1.23 GiB", "512 KiB", "17 B"
std::string format_count(std::int64_t n);       // "6.74 B", "124.4 M", "96.5 K", "812"

}  // namespace qls::cli
