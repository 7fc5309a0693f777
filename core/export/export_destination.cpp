#include "core/export/export_destination.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/export/ollama_modelfile.h"
#include "core/io/gguf_reader.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace qls {

namespace fs = std::filesystem;

std::string_view export_kind_name(ExportKind kind) {
    switch (kind) {
        case ExportKind::Peft: return "PEFT adapter";
        case ExportKind::Merged: return "merged model";
        case ExportKind::Gguf: return "merged GGUF";
        case ExportKind::GgufBase: return "base GGUF";
        case ExportKind::GgufLora: return "GGUF LoRA adapter";
        case ExportKind::Axolotl: return "axolotl config";
    }
    return "export";
}

bool is_folder_export(ExportKind kind) {
    return kind == ExportKind::Peft || kind == ExportKind::Merged || kind == ExportKind::Axolotl;
}

std::string_view gguf_export_tag(ExportKind kind) {
    switch (kind) {
        case ExportKind::Gguf: return "gguf";
        case ExportKind::GgufBase: return "gguf-base";
        case ExportKind::GgufLora: return "gguf-lora";
        default: break;
    }
    throw InternalError(str_cat("no GGUF tag for the ", export_kind_name(kind)));
}

namespace {

std::string_view manifest_tag(ExportKind kind) {
    if (kind == ExportKind::Peft) return "peft";
    return kind == ExportKind::Axolotl ? "axolotl" : "merged";
}

// The folder export a manifest's tag names, for messages.
std::string_view folder_kind_name(const std::string& tag) {
    for (ExportKind k : {ExportKind::Peft, ExportKind::Merged, ExportKind::Axolotl})
        if (tag == manifest_tag(k)) return export_kind_name(k);
    return "folder";
}

const char* const kModelfileHeader = "# Made by QLoRA Studio.";

fs::path canonical_or_absolute(const fs::path& p) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(p, ec);
    return ec ? fs::absolute(p).lexically_normal() : c;
}

bool same_or_inside(const fs::path& path, const fs::path& folder) {
    auto p = path.begin(), f = folder.begin();
    for (; f != folder.end(); ++f, ++p) {
        if (f->empty()) continue;  // the empty element a trailing separator leaves
        if (p == path.end() || *p != *f) return false;
    }
    return true;
}

void check_not_read_from(const fs::path& dest, const ExportTarget& t) {
    const fs::path d = canonical_or_absolute(dest);
    for (const fs::path& source : t.read_from) {
        if (source.empty()) continue;
        const fs::path s = canonical_or_absolute(source);
        QLS_CHECK(ConfigError, !same_or_inside(d, s), "export destination '", dest.string(), "' ",
                  d == s ? "is" : "lies inside", " '", source.string(),
                  "', which this export reads from: choose a destination outside it");
    }
}

// The manifest of a folder export, when the folder holds a readable one.
struct Manifest {
    std::string kind;
    std::vector<std::string> files;  // relative, generic form
};

// A manifest entry names a file inside the folder: never absolute, never "..", never the
// manifest itself (a manifest edited by hand must not make us delete anything outside).
bool safe_entry(const std::string& name) {
    const fs::path p(name);
    if (name.empty() || p.is_absolute() || p.has_root_name() || name == kExportManifest) return false;
    for (const auto& part : p)
        if (part == ".." || part == "." || part.empty()) return false;
    return true;
}

std::optional<Manifest> read_manifest(const fs::path& folder) {
    std::ifstream in(folder / kExportManifest, std::ios::binary);
    if (!in) return std::nullopt;
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("kind") || !j["kind"].is_string() || !j.contains("files") ||
        !j["files"].is_array())
        return std::nullopt;
    Manifest m;
    m.kind = j["kind"].get<std::string>();
    for (const auto& f : j["files"]) {
        if (!f.is_string() || !safe_entry(f.get<std::string>())) return std::nullopt;
        m.files.push_back(f.get<std::string>());
    }
    return m;
}

void write_manifest(const fs::path& folder, ExportKind kind, const std::set<std::string>& files, bool complete) {
    const nlohmann::json j = {{"kind", manifest_tag(kind)},
                              {"files", std::vector<std::string>(files.begin(), files.end())},
                              {"complete", complete}};
    write_file_atomic(folder / kExportManifest, j.dump(2) + "\n");
}

std::string some_entries(const fs::path& folder) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(folder, ec)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    std::string s;
    for (std::size_t i = 0; i < names.size() && i < 3; ++i) s += (i ? ", '" : "'") + names[i] + "'";
    if (names.size() > 3) s += str_cat(" and ", names.size() - 3, " more");
    return s;
}

const char* const kForceHint = "choose a new or empty destination, or force it (--force; the export then replaces "
                               "only the files of the names it writes and keeps everything else)";

void check_folder(const ExportTarget& t) {
    std::error_code ec;
    if (!fs::exists(t.path, ec)) return;
    QLS_CHECK(ConfigError, fs::is_directory(t.path, ec), "export destination '", t.path.string(),
              "' is a file, not a folder: choose a folder for the ", export_kind_name(t.kind));
    if (fs::is_empty(t.path, ec) || t.force) return;
    const auto m = read_manifest(t.path);
    if (m && m->kind == manifest_tag(t.kind)) return;  // an earlier export of ours, of this kind: updated
    if (m)
        throw ConfigError(str_cat("export destination '", t.path.string(), "' holds a QLoRA Studio ",
                                  folder_kind_name(m->kind),
                                  " export, not a ", export_kind_name(t.kind), ": ", kForceHint));
    throw ConfigError(str_cat("export destination '", t.path.string(), "' is not empty (", some_entries(t.path),
                              ") and is not a QLoRA Studio ", export_kind_name(t.kind), " export: ", kForceHint));
}

bool is_our_gguf(const fs::path& file, ExportKind kind) {
    try {
        const GgufFile g(file);
        return g.get_string(kGgufExportKey) == std::string(gguf_export_tag(kind));
    } catch (const Error&) {
        return false;
    }
}

bool is_our_modelfile(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string first;
    std::getline(in, first);
    return first.starts_with(kModelfileHeader);
}

void check_file(const ExportTarget& t, const fs::path& file, bool ours_if, std::string_view what) {
    check_not_read_from(file, t);
    std::error_code ec;
    if (!fs::exists(file, ec)) return;
    QLS_CHECK(ConfigError, !fs::is_directory(file, ec), "export destination '", file.string(),
              "' is a folder: give the file's path for the ", export_kind_name(t.kind));
    QLS_CHECK(ConfigError, t.force || ours_if, "'", file.string(), "' already exists and is not a QLoRA Studio ",
              what, ": ",
              kForceHint);
}

std::vector<fs::path> files_under(const fs::path& root) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(root))
        if (e.is_regular_file()) files.push_back(fs::relative(e.path(), root));
    std::sort(files.begin(), files.end());
    return files;
}

void move_into_place(const fs::path& from, const fs::path& to) {
    std::error_code ec;
    if (to.has_parent_path()) fs::create_directories(to.parent_path(), ec);
    QLS_CHECK(IoError, !fs::is_directory(to, ec), "cannot write '", to.string(), "': a folder of that name is there");
    fs::rename(from, to, ec);
    QLS_CHECK(IoError, !ec, "cannot move '", from.string(), "' to '", to.string(), "': ", ec.message());
}

void install_folder(const fs::path& staged, const ExportTarget& t) {
    std::error_code ec;
    fs::create_directories(t.path, ec);
    QLS_CHECK(IoError, !ec, "cannot create folder '", t.path.string(), "': ", ec.message());
    std::set<std::string> old;
    if (const auto m = read_manifest(t.path); m && m->kind == manifest_tag(t.kind))
        old.insert(m->files.begin(), m->files.end());
    std::set<std::string> fresh;
    for (const fs::path& f : files_under(staged)) fresh.insert(f.generic_string());
    std::set<std::string> both = old;
    both.insert(fresh.begin(), fresh.end());
    // From here until the last line the folder is a mix of old and new files; the manifest
    // names them all, so an export interrupted here is recognized and finished by the next.
    write_manifest(t.path, t.kind, both, false);
    for (const std::string& f : fresh) move_into_place(staged / f, t.path / f);
    for (const std::string& f : old) {
        if (fresh.count(f)) continue;
        fs::remove(t.path / f, ec);
        for (fs::path p = (t.path / f).parent_path(); p != t.path && fs::is_empty(p, ec); p = p.parent_path())
            fs::remove(p, ec);
    }
    write_manifest(t.path, t.kind, fresh, true);
}

// Staging folders of earlier exports to `dest` whose process is gone (killed mid-export): the
// pid in the name says whose it is, so a live export's is never touched.
void remove_stale_staging(const fs::path& dest) {
    const std::string prefix = "." + dest.filename().string() + ".tmp-";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(canonical_or_absolute(dest).parent_path(), ec)) {
        const std::string name = e.path().filename().string();
        if (!name.starts_with(prefix)) continue;
        const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
        if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
            std::error_code ignored;
            fs::remove_all(e.path(), ignored);
        }
    }
}

fs::path staging_folder(const fs::path& dest) {
    static std::atomic<unsigned> counter{0};
    const fs::path parent = canonical_or_absolute(dest).parent_path();
    return parent / str_cat(".", dest.filename().string(), ".tmp-", ::getpid(), "-", counter++);
}

class StagingFolder {
public:
    explicit StagingFolder(fs::path dir) : m_dir(std::move(dir)) {
        std::error_code ec;
        fs::create_directories(m_dir, ec);
        QLS_CHECK(IoError, !ec, "cannot create folder '", m_dir.string(), "': ", ec.message());
    }
    StagingFolder(const StagingFolder&) = delete;
    StagingFolder& operator=(const StagingFolder&) = delete;
    ~StagingFolder() {
        std::error_code ec;
        fs::remove_all(m_dir, ec);
    }
    const fs::path& dir() const { return m_dir; }

private:
    fs::path m_dir;
};

}  // namespace

void check_export_target(const ExportTarget& t) {
    QLS_CHECK(ConfigError, !t.path.empty() && t.path.has_filename(), "export destination '", t.path.string(),
              "': give a ", is_folder_export(t.kind) ? "folder" : "file", " path");
    check_not_read_from(t.path, t);
    if (is_folder_export(t.kind)) {
        check_folder(t);
        return;
    }
    check_file(t, t.path, is_our_gguf(t.path, t.kind), export_kind_name(t.kind));
    const fs::path modelfile = ollama_modelfile_path(t.path);
    if (t.modelfile) check_file(t, modelfile, is_our_modelfile(modelfile), "Modelfile");
}

void write_export(const ExportTarget& t, const std::function<void(const fs::path& staging)>& write) {
    check_export_target(t);
    remove_stale_staging(t.path);
    const StagingFolder staging(staging_folder(t.path));
    if (is_folder_export(t.kind)) {
        write(staging.dir() / "export");
        install_folder(staging.dir() / "export", t);
        return;
    }
    const fs::path file = staging.dir() / t.path.filename();
    write(file);
    move_into_place(file, t.path);
    if (t.modelfile) move_into_place(ollama_modelfile_path(file), ollama_modelfile_path(t.path));
}

std::vector<fs::path> exported_files(const ExportTarget& t) {
    std::vector<fs::path> files;
    if (!is_folder_export(t.kind)) {
        files.push_back(t.path);
        if (t.modelfile) files.push_back(ollama_modelfile_path(t.path));
        return files;
    }
    const auto m = read_manifest(t.path);
    QLS_CHECK(IoError, m.has_value(), "'", (t.path / kExportManifest).string(), "' is missing or unreadable");
    for (const std::string& f : m->files) files.push_back(t.path / f);
    return files;
}

}  // namespace qls
