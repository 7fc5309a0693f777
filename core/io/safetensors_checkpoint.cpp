#include "core/io/safetensors_checkpoint.h"

#include <fstream>
#include <iterator>
#include <map>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qls {

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

nlohmann::json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    QLS_CHECK(IoError, in.is_open(), "cannot open '", path.string(), "'");
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat(path.string(), ": not valid JSON: ", e.what()));
    }
}

// weight_map: tensor name -> shard file name, grouped by shard in first-seen order.
std::map<std::string, std::vector<std::string>> read_weight_map(const std::filesystem::path& index) {
    const nlohmann::json j = read_json_file(index);
    QLS_CHECK(FormatError, j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
              index.string(), ": missing object 'weight_map'");
    std::map<std::string, std::vector<std::string>> by_shard;
    for (const auto& [name, shard] : j["weight_map"].items()) {
        QLS_CHECK(FormatError, shard.is_string(), index.string(), ": weight_map entry '", name,
                  "' is not a file name");
        const auto& file = shard.get_ref<const std::string&>();
        // A shard must sit beside the index: no folders, no way out of the model folder.
        QLS_CHECK(FormatError,
                  !file.empty() && file.find('/') == std::string::npos && file != "." && file != "..",
                  index.string(), ": weight_map entry '", name, "': invalid shard file name '", file, "'");
        by_shard[file].push_back(name);
    }
    return by_shard;
}

}  // namespace

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::filesystem::path& path) {
    SafetensorsCheckpoint ckpt;
    ckpt.m_path = path;
    if (!std::filesystem::is_directory(path)) {
        ckpt.add_shard(SafetensorsFile(path));
        return ckpt;
    }
    const auto index = path / kIndexFile;
    if (!std::filesystem::exists(index)) {
        QLS_CHECK(FormatError, std::filesystem::exists(path / kSingleFile), path.string(),
                  ": no ", kSingleFile, " or ", kIndexFile, " in the folder");
        ckpt.add_shard(SafetensorsFile(path / kSingleFile));
        return ckpt;
    }
    ckpt.m_sharded = true;
    for (const auto& [file, names] : read_weight_map(index)) {
        const auto shard_path = path / file;
        QLS_CHECK(FormatError, std::filesystem::is_regular_file(shard_path), index.string(),
                  ": shard file '", file, "' is missing (it holds tensor '", names.front(), "')");
        SafetensorsFile shard(shard_path);
        for (const auto& name : names)
            QLS_CHECK(FormatError, shard.contains(name), index.string(), ": tensor '", name,
                      "' is listed in shard '", file, "' but absent from it");
        ckpt.add_shard(std::move(shard));
    }
    return ckpt;
}

void SafetensorsCheckpoint::add_shard(SafetensorsFile file) {
    m_shards.push_back(std::move(file));
    const std::size_t s = m_shards.size() - 1;
    const auto& tensors = m_shards[s].tensors();
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        auto [it, inserted] = m_index.emplace(t.name, Location{s, i});
        QLS_CHECK(FormatError, inserted, m_path.string(), ": tensor '", t.name, "' is in both '",
                  m_shards[it->second.shard].path().filename().string(), "' and '",
                  m_shards[s].path().filename().string(), "'");
        m_names.push_back(t.name);
    }
}

const TensorView* SafetensorsCheckpoint::find(const std::string& name) const {
    auto it = m_index.find(name);
    if (it == m_index.end()) return nullptr;
    return &m_shards[it->second.shard].tensors()[it->second.tensor].view;
}

const TensorView& SafetensorsCheckpoint::tensor(const std::string& name) const {
    const TensorView* t = find(name);
    QLS_CHECK(FormatError, t != nullptr, m_path.string(), ": tensor '", name, "' is missing");
    return *t;
}

std::filesystem::path SafetensorsCheckpoint::file_of(const std::string& name) const {
    auto it = m_index.find(name);
    return it == m_index.end() ? m_path : m_shards[it->second.shard].path();
}

std::vector<std::shared_ptr<const MappedFile>> SafetensorsCheckpoint::files() const {
    std::vector<std::shared_ptr<const MappedFile>> out;
    for (const auto& s : m_shards) out.push_back(s.file());
    return out;
}

}  // namespace qls
