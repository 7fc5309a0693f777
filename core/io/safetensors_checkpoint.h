// The safetensors side of a Hugging Face model folder (formats.md §6.2 "Sharding"): one
// model.safetensors, or model.safetensors.index.json naming the shard of every tensor. Every
// tensor is found by name whichever shard holds it.
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/io/safetensors_reader.h"

namespace qls {

class SafetensorsCheckpoint {
public:
    // `path` is a model folder or a single .safetensors file. Throws FormatError naming the
    // index, shard and tensor at fault (missing shard file, tensor listed but absent from its
    // shard, a tensor held by two shards), IoError when a file cannot be read.
    static SafetensorsCheckpoint open(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return m_path; }
    bool sharded() const { return m_sharded; }
    const std::vector<SafetensorsFile>& shards() const { return m_shards; }
    const std::vector<std::string>& names() const { return m_names; }  // shard by shard, header order

    bool contains(const std::string& name) const { return m_index.count(name) != 0; }
    const TensorView* find(const std::string& name) const;  // nullptr when absent
    // Throws FormatError naming the checkpoint and the tensor when it is absent.
    const TensorView& tensor(const std::string& name) const;
    // The file holding `name` (for messages); the checkpoint path when absent.
    std::filesystem::path file_of(const std::string& name) const;
    std::vector<std::shared_ptr<const MappedFile>> files() const;

private:
    struct Location {
        std::size_t shard;
        std::size_t tensor;  // index into m_shards[shard].tensors()
    };
    void add_shard(SafetensorsFile file);

    std::filesystem::path m_path;
    bool m_sharded = false;
    std::vector<SafetensorsFile> m_shards;
    std::vector<std::string> m_names;
    std::unordered_map<std::string, Location> m_index;
};

}  // namespace qls
