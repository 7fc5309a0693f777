// Where an export may write, and how it writes there without destroying anything it did not
// write itself. A destination is refused when it is, or lies inside, a folder the export reads
// from (the run, the base model, the source adapter), and, unless forced, when it already holds
// something that is not one of our exports of the same kind. Writing builds everything in a
// hidden sibling first, then moves the export's files in one by one: files of other names in the
// destination are never touched, and files an earlier export of ours wrote but this one does not
// are removed. A folder export records its files in kExportManifest, written before the first
// move, so a destination an interrupted export left half-updated is still recognized as ours.
#pragma once
#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

namespace qls {

enum class ExportKind {
    Peft,      // folder: adapter_config.json, adapter_model.safetensors, README.md
    Merged,    // folder: config.json, safetensors shards, tokenizer files
    Gguf,      // file: the merged model, with an Ollama Modelfile beside it
    GgufBase,  // file: the base model alone (a Modelfile beside it when asked)
    GgufLora,  // file: the adapter for llama.cpp --lora
    Axolotl,   // folder: config.yml, train.jsonl, valid.jsonl, README.md for axolotl
};
std::string_view export_kind_name(ExportKind kind);  // "PEFT adapter", "merged model", ...
bool is_folder_export(ExportKind kind);

// The manifest of a folder export (a hidden file in it).
inline constexpr std::string_view kExportManifest = ".qlora-studio-export.json";
// The GGUF metadata key our GGUF exports carry: "gguf", "gguf-base" or "gguf-lora".
inline constexpr std::string_view kGgufExportKey = "qlora_studio.export";
std::string_view gguf_export_tag(ExportKind kind);

struct ExportTarget {
    std::filesystem::path path;  // the folder (Peft, Merged) or the file (GGUF kinds)
    ExportKind kind = ExportKind::Peft;
    bool modelfile = false;      // GGUF kinds: "<name>.Modelfile" is written beside "<name>.gguf"
    // Never written into, even with force: the run folder, the base model (folder or file), the
    // adapter read. Empty paths are ignored.
    std::vector<std::filesystem::path> read_from;
    bool force = false;  // write into a destination that holds other things (their names kept)
};

// Throws ConfigError saying why the export may not write there and what to do instead.
void check_export_target(const ExportTarget& target);

// Checks the target, then lets `write` fill a fresh staging folder: for a folder kind, `write`
// must create the folder `staging` itself (the core writers do); for a file kind, `staging` is
// the file's path inside a staging folder and any companion (its .Modelfile) goes beside it.
// Then installs the files as above. The staging folder is removed whatever happens.
void write_export(const ExportTarget& target, const std::function<void(const std::filesystem::path& staging)>& write);

// The files a completed export at `target` consists of (for a folder: as its manifest lists them).
std::vector<std::filesystem::path> exported_files(const ExportTarget& target);

}  // namespace qls
