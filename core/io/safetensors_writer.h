// Writes safetensors files byte-identical to the Rust serializer that safetensors' Python
// `save_file` calls (safetensors/src/tensor.rs `prepare`, formats.md §7): tensors sorted by
// dtype descending in the Rust enum order, then by name, packed back to back; a compact JSON
// header with "__metadata__" first, space-padded to a multiple of 8 bytes.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/io/named_tensor.h"
#include "core/io/safetensors_reader.h"

namespace qls {

// Writes atomically (temp file, then rename). `metadata` is written in key order; an empty
// map leaves "__metadata__" out, as the Rust writer does for None. Throws IoError.
void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The same with "__metadata__" entries in the given order: Python passes a dict that Rust
// turns into a HashMap, so the order in existing files is arbitrary; this reproduces one.
void write_safetensors_ordered(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                               const SafetensorsMetadata& metadata);

// The whole file image in memory (for small files and tests).
std::string serialize_safetensors(const std::vector<NamedTensor>& tensors, const SafetensorsMetadata& metadata);

// Views of owned tensors, for the writer.
std::vector<NamedTensor> named_views(const std::vector<OwnedTensor>& tensors);

}  // namespace qls
