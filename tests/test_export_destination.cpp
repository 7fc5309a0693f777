// Exports never destroy what they did not write (issue "Nothing lost, nothing crashes", item 1):
// a destination that holds other things is refused unless forced, and forced it keeps every file
// of another name; the run, the adapter and the base model are never written into; an earlier
// export of ours of the same kind is updated in place, its stale files removed, a user's files kept.
#include <QtTest>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/export/export_destination.h"
#include "core/export/gguf_lora_export.h"
#include "core/export/peft_adapter.h"
#include "core/model/model_loader.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace qls;
namespace fs = std::filesystem;
using qls::test::ScratchDir;

namespace {

fs::path ref_lora() { return qls::test::ref_dir() / "lora" / "llama3-tiny"; }
fs::path ref_model() { return qls::test::ref_dir() / "models" / "llama3-tiny"; }

void put(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
}
std::string get(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

ExportTarget peft_target(const fs::path& dest, bool force = false) {
    ExportTarget t;
    t.path = dest;
    t.kind = ExportKind::Peft;
    t.force = force;
    t.read_from = {ref_lora(), ref_model()};
    return t;
}

void export_peft(const LoraAdapter& adapter, const ExportTarget& t) {
    write_export(t, [&](const fs::path& dir) { write_peft_adapter(adapter, dir, {}); });
}

// No hidden staging folder is left beside `dest`.
bool no_staging_left(const fs::path& dest) {
    for (const auto& e : fs::directory_iterator(dest.parent_path()))
        if (e.path().filename().string().starts_with("." + dest.filename().string() + ".tmp-")) return false;
    return true;
}

}  // namespace

class TestExportDestination : public QObject {
    Q_OBJECT
private slots:
    void foreignFolderIsRefusedAndForceKeepsItsFiles();
    void ownExportIsUpdatedInPlace();
    void interruptedExportIsStillOurs();
    void neverWritesIntoWhatItReads();
    void otherKindIsRefused();
    void manifestCannotReachOutside();
    void ggufFilesAndModelfile();
};

void TestExportDestination::foreignFolderIsRefusedAndForceKeepsItsFiles() {
    const LoraAdapter adapter = read_peft_adapter(ref_lora());
    ScratchDir scratch;
    const fs::path dest = scratch.path() / "mine";
    put(dest / "notes.txt", "my notes");
    put(dest / "README.md", "my readme");
    QLS_VERIFY_THROWS_WITH(export_peft(adapter, peft_target(dest)), ConfigError, "is not empty ('README.md', 'notes.txt')");
    QCOMPARE(get(dest / "notes.txt"), std::string("my notes"));
    QVERIFY(!fs::exists(dest / "adapter_config.json"));

    export_peft(adapter, peft_target(dest, true));
    QCOMPARE(get(dest / "notes.txt"), std::string("my notes"));  // other names kept
    QVERIFY(get(dest / "README.md") != "my readme");              // a name the export writes: replaced
    QCOMPARE(read_peft_adapter(dest).modules.size(), adapter.modules.size());
    QVERIFY(no_staging_left(dest));
    // Forced once, it is now our export: the next one needs no force, and still keeps notes.txt.
    export_peft(adapter, peft_target(dest));
    QCOMPARE(get(dest / "notes.txt"), std::string("my notes"));
}

void TestExportDestination::ownExportIsUpdatedInPlace() {
    const LoraAdapter adapter = read_peft_adapter(ref_lora());
    ScratchDir scratch;
    const fs::path dest = scratch.path() / "peft";
    export_peft(adapter, peft_target(dest));
    const auto files = exported_files(peft_target(dest));
    QCOMPARE(files.size(), std::size_t(3));
    // A file the user added, and one an earlier export of ours wrote that this one does not.
    put(dest / "my-eval.txt", "kept");
    put(dest / "sub" / "old-shard.bin", "stale");
    auto manifest = nlohmann::json::parse(get(dest / kExportManifest));
    manifest["files"].push_back("sub/old-shard.bin");
    put(dest / kExportManifest, manifest.dump());

    export_peft(adapter, peft_target(dest));
    QCOMPARE(get(dest / "my-eval.txt"), std::string("kept"));
    QVERIFY(!fs::exists(dest / "sub"));  // the stale file and the folder it leaves empty
    QCOMPARE(exported_files(peft_target(dest)), files);
    QVERIFY(nlohmann::json::parse(get(dest / kExportManifest))["complete"].get<bool>());
}

void TestExportDestination::interruptedExportIsStillOurs() {
    // An export killed between its first and last move leaves a manifest marked incomplete
    // naming every file; the next export recognizes the folder and finishes it.
    const LoraAdapter adapter = read_peft_adapter(ref_lora());
    ScratchDir scratch;
    const fs::path dest = scratch.path() / "peft";
    put(dest / "adapter_config.json", "{half");
    put(dest / kExportManifest,
        R"({"kind": "peft", "complete": false, "files": ["adapter_config.json", "adapter_model.safetensors", "README.md"]})");
    export_peft(adapter, peft_target(dest));
    QCOMPARE(read_peft_adapter(dest).modules.size(), adapter.modules.size());
}

void TestExportDestination::neverWritesIntoWhatItReads() {
    const LoraAdapter adapter = read_peft_adapter(ref_lora());
    ScratchDir scratch;
    const fs::path run = scratch.path() / "run";
    put(run / "run.json", "{}");
    for (const fs::path& dest : {run, run / "adapter", run / "." / "export", ref_model(), ref_lora() / "x"}) {
        for (bool force : {false, true}) {
            ExportTarget t = peft_target(dest, force);
            t.read_from.push_back(run);
            QLS_VERIFY_THROWS_WITH(export_peft(adapter, t), ConfigError, "which this export reads from");
        }
    }
    QCOMPARE(get(run / "run.json"), std::string("{}"));
    QVERIFY(!fs::exists(run / "adapter"));
    // A GGUF model file is what a GGUF export must not overwrite.
    ExportTarget t;
    t.kind = ExportKind::GgufBase;
    t.path = scratch.path() / "base.gguf";
    put(t.path, "GGUF model");
    t.read_from = {t.path};
    t.force = true;
    QLS_VERIFY_THROWS_WITH(check_export_target(t), ConfigError, "which this export reads from");
    // A sibling whose name merely starts with the run's is not inside it.
    QVERIFY(!fs::exists(scratch.path() / "run-export"));
    ExportTarget sibling = peft_target(scratch.path() / "run-export");
    sibling.read_from.push_back(run);
    export_peft(adapter, sibling);
}

void TestExportDestination::otherKindIsRefused() {
    const LoraAdapter adapter = read_peft_adapter(ref_lora());
    ScratchDir scratch;
    const fs::path dest = scratch.path() / "out";
    export_peft(adapter, peft_target(dest));
    ExportTarget merged = peft_target(dest);
    merged.kind = ExportKind::Merged;
    QLS_VERIFY_THROWS_WITH(check_export_target(merged), ConfigError, "holds a QLoRA Studio PEFT adapter export, not a merged model");
    ExportTarget file = peft_target(dest);
    file.kind = ExportKind::Gguf;
    file.force = true;
    QLS_VERIFY_THROWS_WITH(check_export_target(file), ConfigError, "is a folder");
}

void TestExportDestination::manifestCannotReachOutside() {
    // A manifest edited to name files outside its folder is not ours: refused, and even forced
    // the export removes nothing it lists.
    const LoraAdapter adapter = read_peft_adapter(ref_lora());
    ScratchDir scratch;
    const fs::path dest = scratch.path() / "peft";
    put(scratch.path() / "victim.txt", "precious");
    put(dest / kExportManifest, R"({"kind": "peft", "files": ["../victim.txt"]})");
    QLS_VERIFY_THROWS_WITH(export_peft(adapter, peft_target(dest)), ConfigError, "is not a QLoRA Studio PEFT adapter export");
    export_peft(adapter, peft_target(dest, true));
    QCOMPARE(get(scratch.path() / "victim.txt"), std::string("precious"));
}

void TestExportDestination::ggufFilesAndModelfile() {
    const LoraAdapter adapter = read_peft_adapter(ref_lora());
    const Model model = load_model(ref_model());
    ScratchDir scratch;
    ExportTarget t;
    t.kind = ExportKind::GgufLora;
    t.path = scratch.path() / "lora.gguf";
    const auto write = [&](const ExportTarget& target) {
        write_export(target, [&](const fs::path& file) { export_gguf_lora(adapter, model.config, file); });
    };
    put(t.path, "someone's file");
    QLS_VERIFY_THROWS_WITH(write(t), ConfigError, "already exists and is not a QLoRA Studio GGUF LoRA adapter");
    QCOMPARE(get(t.path), std::string("someone's file"));
    t.force = true;
    write(t);
    t.force = false;
    write(t);  // now ours, of this kind: replaced without force
    ExportTarget other = t;
    other.kind = ExportKind::GgufBase;  // ours, but another kind
    QLS_VERIFY_THROWS_WITH(check_export_target(other), ConfigError, "is not a QLoRA Studio base GGUF");

    // The merged GGUF's Modelfile: a user's is refused, ours replaced.
    ExportTarget gguf;
    gguf.kind = ExportKind::Gguf;
    gguf.path = scratch.path() / "model.gguf";
    gguf.modelfile = true;
    put(scratch.path() / "model.Modelfile", "FROM llama3\n");
    QLS_VERIFY_THROWS_WITH(check_export_target(gguf), ConfigError, "is not a QLoRA Studio Modelfile");
    put(scratch.path() / "model.Modelfile", "# Made by QLoRA Studio. Create the Ollama model with: ...\nFROM ./x.gguf\n");
    check_export_target(gguf);
    // Another GGUF's Modelfile in the same folder is not this export's business.
    put(scratch.path() / "model.Modelfile", "FROM llama3\n");
    gguf.path = scratch.path() / "other.gguf";
    check_export_target(gguf);
    QVERIFY(no_staging_left(t.path));
}

QTEST_GUILESS_MAIN(TestExportDestination)
#include "test_export_destination.moc"
