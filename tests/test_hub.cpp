// Hugging Face Hub: model references, the cache layout, downloads (redirects, resume, 404s,
// truncation, sha256, cache reuse, config-only) and the upload protocol, all against
// FakeHub, a local server that speaks the Hub's URL layout.
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>

#include "core/hub/hf_cache.h"
#include "core/hub/hub_download.h"
#include "core/hub/hub_endpoint.h"
#include "core/hub/hub_http.h"
#include "core/hub/hub_upload.h"
#include "core/model/model_layout.h"
#include "core/model/model_loader.h"
#include "tests/fake_hub_server.h"

namespace fs = std::filesystem;
using namespace qls;

namespace {

const QString kModelDir = QStringLiteral(QLS_SHARED_DIR "/fixtures/ref/models/llama3-tiny-bf16-sharded");
// The repository FakeHub hosts: the fixture's model files, plus one a model download must not take.
const QStringList kServed = {"config.json",
                             "generation_config.json",
                             "tokenizer.json",
                             "tokenizer_config.json",
                             "model.safetensors.index.json",
                             "model-00001-of-00004.safetensors",
                             "model-00002-of-00004.safetensors",
                             "model-00003-of-00004.safetensors",
                             "model-00004-of-00004.safetensors",
                             "chat.json"};

QByteArray read_all(const fs::path& p) {
    QFile f(QString::fromStdString(p.string()));
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

QByteArray source_bytes(const QString& name) {
    return read_all((kModelDir + "/" + name).toStdString());
}

void write_file(const fs::path& p, const QByteArray& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.constData(), bytes.size());
}

// The requests that fetched a file's bytes (resolve or CDN), as opposed to API calls.
QList<HubRequest> file_requests(const QList<HubRequest>& log) {
    QList<HubRequest> out;
    for (const auto& r : log)
        if (r.path.contains("/resolve/") || r.path.startsWith("/cdn/")) out.push_back(r);
    return out;
}

template <typename E, typename F>
QString error_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

}  // namespace

class TestHub : public QObject {
    Q_OBJECT

    std::unique_ptr<QTemporaryDir> m_home;
    std::unique_ptr<FakeHub> m_hub;

    HubSettings settings() const {
        HubSettings s;
        s.endpoint = m_hub->endpoint().toStdString();
        s.cache_root = fs::path(m_home->path().toStdString()) / "hub";
        s.token = m_hub->token.toStdString();
        return s;
    }
    HubModelRef ref() const { return {m_hub->repo_id.toStdString(), "main"}; }
    HfRepoCache cache() const { return HfRepoCache(settings().cache_root, ref().repo_id); }
    fs::path snapshot() const { return cache().snapshot(m_hub->commit.toStdString()); }
    std::string lfs_etag(const QString& name) const {
        return FakeHub::sha256(source_bytes(name)).toStdString();
    }

private slots:
    void init() {
        m_home = std::make_unique<QTemporaryDir>();
        m_hub = std::make_unique<FakeHub>();
        m_hub->source_dir = kModelDir;
        m_hub->files = kServed;
        m_hub->start_serving();
    }
    void cleanup() {
        m_hub.reset();
        m_home.reset();
    }

    void parses_ids_and_urls() {
        auto r = parse_hub_model_ref("HuggingFaceTB/SmolLM2-135M-Instruct");
        QCOMPARE(r.repo_id, std::string("HuggingFaceTB/SmolLM2-135M-Instruct"));
        QCOMPARE(r.revision, std::string("main"));
        r = parse_hub_model_ref("https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/");
        QCOMPARE(r.repo_id, std::string("HuggingFaceTB/SmolLM2-135M-Instruct"));
        r = parse_hub_model_ref("https://huggingface.co/org/name/tree/v1.0");
        QCOMPARE(r.repo_id, std::string("org/name"));
        QCOMPARE(r.revision, std::string("v1.0"));
        QVERIFY(!error_of<ConfigError>([] { parse_hub_model_ref("just-a-name"); }).isEmpty());
        QVERIFY(!error_of<ConfigError>([] { parse_hub_model_ref("https://huggingface.co/"); }).isEmpty());
        QVERIFY(looks_like_hub_ref("org/name"));
        QVERIFY(!looks_like_hub_ref(kModelDir.toStdString()));
        QCOMPARE(hf_repo_folder_name("org/name"), std::string("models--org--name"));
        QCOMPARE(url_quote("a b/c", true), std::string("a%20b/c"));
        QCOMPARE(url_quote("refs/pr/1", false), std::string("refs%2Fpr%2F1"));
    }

    void settings_follow_huggingface_hub_rules() {
        const QByteArray home = m_home->path().toUtf8();
        qputenv("HF_HOME", home);
        qunsetenv("HF_HUB_CACHE");
        qunsetenv("HF_TOKEN");
        qunsetenv("HF_ENDPOINT");
        write_file(fs::path(home.toStdString()) / "token", "hf_from_file\n");
        HubSettings s = hub_settings_from_environment();
        QCOMPARE(s.endpoint, std::string("https://huggingface.co"));
        QCOMPARE(s.cache_root, fs::path(home.toStdString()) / "hub");
        QCOMPARE(s.token.value_or(""), std::string("hf_from_file"));
        qputenv("HF_TOKEN", "hf_from_env");
        qputenv("HF_HUB_CACHE", home + "/elsewhere");
        qputenv("HF_ENDPOINT", "http://127.0.0.1:9/");
        s = hub_settings_from_environment();
        QCOMPARE(s.token.value_or(""), std::string("hf_from_env"));
        QCOMPARE(s.cache_root, fs::path(home.toStdString() + "/elsewhere"));
        QCOMPARE(s.endpoint, std::string("http://127.0.0.1:9"));
        for (const char* v : {"HF_HOME", "HF_TOKEN", "HF_HUB_CACHE", "HF_ENDPOINT"}) qunsetenv(v);
    }

    void downloads_a_sharded_model_the_loader_opens() {
        const HubDownload d = download_from_hub(settings(), ref(), HubFetch::Model);
        QVERIFY(!d.from_cache);
        QCOMPARE(d.snapshot, snapshot());
        QCOMPARE(d.fetched.size(), std::size_t(kServed.size() - 1));  // all but chat.json
        QVERIFY(!fs::exists(d.snapshot / "chat.json"));
        for (const QString& name : kServed.mid(0, kServed.size() - 1)) {
            const fs::path p = d.snapshot / name.toStdString();
            QVERIFY2(fs::is_symlink(p), qPrintable(name));
            QVERIFY2(fs::read_symlink(p).is_relative(), qPrintable(name));
            QVERIFY2(read_all(p) == source_bytes(name), qPrintable(name));
        }
        // LFS blobs are named by sha256, the others by git blob id, as huggingface_hub names them.
        QCOMPARE(fs::read_symlink(d.snapshot / "model-00001-of-00004.safetensors").filename().string(),
                 lfs_etag("model-00001-of-00004.safetensors"));
        QCOMPARE(fs::read_symlink(d.snapshot / "config.json").filename().string(),
                 FakeHub::git_blob_id(source_bytes("config.json")).toStdString());
        QCOMPARE(read_all(cache().dir() / "refs" / "main"), m_hub->commit);
        // LFS files came through the redirect; every Hub request carried the token.
        int cdn = 0;
        for (const auto& r : m_hub->log()) {
            cdn += r.path.startsWith("/cdn/");
            if (!r.path.startsWith("/cdn/")) QVERIFY2(r.status != 401, r.path.constData());
        }
        QCOMPARE(cdn, 5);  // 4 shards + tokenizer.json
        const Model from_hub = load_model(d.snapshot);
        const Model original = load_model(kModelDir.toStdString());
        QCOMPARE(from_hub.config.num_layers, original.config.num_layers);
        QCOMPARE(from_hub.weights.tensors.size(), original.weights.tensors.size());
    }

    // Without an index the weights are model.safetensors, not every .safetensors file listed.
    void a_single_file_model_takes_model_safetensors_only() {
        m_hub->source_dir = QStringLiteral(QLS_SHARED_DIR "/fixtures/ref/models/llama3-tiny");
        m_hub->files = {"config.json", "tokenizer.json", "model.safetensors", "expected.safetensors"};
        const HubDownload d = download_from_hub(settings(), ref(), HubFetch::Model);
        QVERIFY(fs::exists(d.snapshot / "model.safetensors"));
        QVERIFY(!fs::exists(d.snapshot / "expected.safetensors"));
        QVERIFY(hub_snapshot_complete(d.snapshot, HubFetch::Model));
        QCOMPARE(load_model(d.snapshot).config.num_layers, std::int64_t(3));
    }

    void second_download_uses_the_cache_without_requests() {
        download_from_hub(settings(), ref(), HubFetch::Model);
        m_hub->clear_log();
        const HubDownload again = download_from_hub(settings(), ref(), HubFetch::Model);
        QVERIFY(again.from_cache);
        QCOMPARE(again.snapshot, snapshot());
        QCOMPARE(m_hub->log().size(), 0);
    }

    void resumes_a_partial_file_with_a_range_request() {
        const QString shard = "model-00003-of-00004.safetensors";
        const QByteArray bytes = source_bytes(shard);
        const qsizetype half = bytes.size() / 2;
        write_file(cache().incomplete_blob(lfs_etag(shard)), bytes.left(half));
        // A part already whole (stopped before its rename) is checked and kept, not requested.
        const QString whole = "model-00004-of-00004.safetensors";
        write_file(cache().incomplete_blob(lfs_etag(whole)), source_bytes(whole));
        download_from_hub(settings(), ref(), HubFetch::Model);
        for (const auto& r : file_requests(m_hub->log()))
            QVERIFY2(!r.path.contains(whole.toUtf8()), r.path.constData());
        QCOMPARE(read_all(snapshot() / whole.toStdString()), source_bytes(whole));
        QCOMPARE(read_all(snapshot() / shard.toStdString()), bytes);
        bool ranged = false;
        for (const auto& r : file_requests(m_hub->log()))
            if (r.path.startsWith("/cdn/" + shard.toUtf8())) {
                QCOMPARE(r.headers.value("range"), "bytes=" + QByteArray::number(half) + "-");
                QCOMPARE(r.status, 206);
                ranged = true;
            }
        QVERIFY(ranged);
        QVERIFY(!fs::exists(cache().incomplete_blob(lfs_etag(shard))));
    }

    void skips_a_missing_optional_file_but_not_a_required_one() {
        m_hub->missing = {"generation_config.json"};
        const HubDownload d = download_from_hub(settings(), ref(), HubFetch::Model);
        QCOMPARE(d.skipped, std::vector<std::string>{"generation_config.json"});
        QVERIFY(!fs::exists(d.snapshot / "generation_config.json"));
        QVERIFY(fs::exists(d.snapshot / "config.json"));

        QTemporaryDir other;
        HubSettings s = settings();
        s.cache_root = other.path().toStdString();
        m_hub->missing = {"model-00002-of-00004.safetensors"};
        const QString err = error_of<HttpError>([&] { download_from_hub(s, ref(), HubFetch::Model); });
        QVERIFY2(err.contains("model-00002-of-00004.safetensors") && err.contains("404") &&
                     err.contains("required"),
                 qPrintable(err));
    }

    void a_truncated_body_fails_keeps_the_part_and_the_next_run_resumes() {
        const QString shard = "model-00002-of-00004.safetensors";
        m_hub->truncate_once = shard;
        const QString err =
            error_of<HttpError>([&] { download_from_hub(settings(), ref(), HubFetch::Model); });
        QVERIFY2(err.contains(shard) && err.contains("resume"), qPrintable(err));
        const fs::path part = cache().incomplete_blob(lfs_etag(shard));
        const qsizetype sent = source_bytes(shard).size() / 2;  // what FakeHub sends before closing
        QCOMPARE(qsizetype(fs::file_size(part)), sent);
        QVERIFY(!fs::exists(snapshot() / shard.toStdString()));
        QVERIFY(!fs::exists(cache().dir() / "refs" / "main"));

        m_hub->clear_log();
        download_from_hub(settings(), ref(), HubFetch::Model);
        QCOMPARE(read_all(snapshot() / shard.toStdString()), source_bytes(shard));
        const auto requests = file_requests(m_hub->log());
        const auto it = std::find_if(requests.begin(), requests.end(), [&](const HubRequest& r) {
            return r.path.startsWith("/cdn/" + shard.toUtf8());
        });
        QVERIFY(it != requests.end());
        QCOMPARE(it->headers.value("range"), "bytes=" + QByteArray::number(sent) + "-");
        // What arrived before the break is not asked for again: it waits in blobs/.
        for (const auto& r : requests)
            QVERIFY2(!r.path.contains("config.json") && !r.path.contains("model-00001"), r.path.constData());
    }

    void rejects_a_file_whose_sha256_differs() {
        const QString shard = "model-00001-of-00004.safetensors";
        m_hub->wrong_sha = shard;
        const QString err =
            error_of<FormatError>([&] { download_from_hub(settings(), ref(), HubFetch::Model); });
        QVERIFY2(err.contains(shard) && err.contains("sha256"), qPrintable(err));
        QVERIFY(!fs::exists(snapshot() / shard.toStdString()));
        const std::string listed = FakeHub::sha256(source_bytes(shard) + "x").toStdString();
        QVERIFY(!fs::exists(cache().blob(listed)));
        QVERIFY(!fs::exists(cache().incomplete_blob(listed)));
    }

    // The layout transformers leaves, built here by hand: it opens with no server at all.
    void opens_a_transformers_cache_offline() {
        const std::string commit = "aaaabbbbccccddddeeeeffff0000111122223333";
        const fs::path repo = fs::path(m_home->path().toStdString()) / "hub" / "models--test-org--tiny-llama";
        for (const QString& name : kServed.mid(0, kServed.size() - 1)) {
            const QByteArray bytes = source_bytes(name);
            const QByteArray etag =
                FakeHub::is_lfs(name) ? FakeHub::sha256(bytes) : FakeHub::git_blob_id(bytes);
            write_file(repo / "blobs" / etag.toStdString(), bytes);
            fs::create_directories(repo / "snapshots" / commit);
            fs::create_symlink(fs::path("../../blobs") / etag.toStdString(),
                               repo / "snapshots" / commit / name.toStdString());
        }
        write_file(repo / "refs" / "main", QByteArray::fromStdString(commit));
        HubSettings s = settings();
        s.endpoint = "http://127.0.0.1:1";  // nothing listens there
        const HubDownload d = download_from_hub(s, ref(), HubFetch::Model);
        QVERIFY(d.from_cache);
        QCOMPARE(d.snapshot, repo / "snapshots" / commit);
        QCOMPARE(load_model(d.snapshot).config.num_layers, std::int64_t(3));
        // The commit itself names the same snapshot.
        QCOMPARE(download_from_hub(s, {ref().repo_id, commit}, HubFetch::Model).snapshot, d.snapshot);
        // A snapshot with a shard's blob gone is not complete: the Hub is asked (and is not there).
        fs::remove(repo / "blobs" / lfs_etag("model-00004-of-00004.safetensors"));
        QVERIFY(!hub_snapshot_complete(d.snapshot, HubFetch::Model));
        QVERIFY(!error_of<HttpError>([&] { download_from_hub(s, ref(), HubFetch::Model); }).isEmpty());
    }

    void estimate_source_fetches_only_the_config() {
        const HubDownload d = download_from_hub(settings(), ref(), HubFetch::ConfigOnly);
        const auto log = m_hub->log();
        QCOMPARE(log.size(), 2);
        QVERIFY(log[0].path.startsWith("/api/models/test-org/tiny-llama/revision/main"));
        QCOMPARE(log[1].path, "/test-org/tiny-llama/resolve/" + m_hub->commit + "/config.json");
        const ModelLayout layout = open_model_layout(d.snapshot);
        QVERIFY(layout.config_only);
        QCOMPARE(layout.config.num_layers, std::int64_t(3));
        // Asked again, the config in the cache answers.
        m_hub->clear_log();
        QVERIFY(download_from_hub(settings(), ref(), HubFetch::ConfigOnly).from_cache);
        QCOMPARE(m_hub->log().size(), 0);
    }

    void a_wrong_token_is_a_clear_error() {
        HubSettings s = settings();
        s.token = "hf_wrong";
        const QString err = error_of<HttpError>([&] { download_from_hub(s, ref(), HubFetch::Model); });
        QVERIFY2(err.contains("401") && err.contains("HF_TOKEN"), qPrintable(err));
    }

    void pushes_a_folder_with_lfs_and_inline_files() {
        QTemporaryDir out;
        const fs::path dir = fs::path(out.path().toStdString()) / "export";
        const QByteArray weights = source_bytes("model-00001-of-00004.safetensors");
        write_file(dir / "adapter_model.safetensors", weights);
        write_file(dir / "adapter_config.json", R"({"r": 8, "peft_type": "LORA"})");
        write_file(dir / "README.md", "---\nlibrary_name: peft\n---\n# adapter\n");
        write_file(dir / ".qlora-studio-export.json", "{}");  // our manifest stays home
        const auto files = hub_push_files(dir);
        QCOMPARE(files.size(), std::size_t(3));

        HubPushOptions o;
        o.repo_id = "someone/my-adapter";
        o.message = "first upload";
        const HubPushResult r = push_to_hub(settings(), o, files);
        QCOMPARE(r.lfs_files, std::vector<std::string>{"adapter_model.safetensors"});
        QCOMPARE(r.regular_files.size(), std::size_t(2));
        QCOMPARE(r.commit_oid, std::string("abc"));
        QVERIFY(m_hub->repos.contains("someone/my-adapter"));

        const auto committed = m_hub->committed();
        QCOMPARE(committed.size(), 3);
        QCOMPARE(committed["adapter_model.safetensors"], weights);
        QCOMPARE(committed["adapter_config.json"], read_all(dir / "adapter_config.json"));
        QCOMPARE(committed["README.md"], read_all(dir / "README.md"));
        const auto lines = m_hub->commit_lines();
        QCOMPARE(lines[0]["value"].toObject()["summary"].toString(), QString("first upload"));
        int inline_files = 0, lfs_files = 0;
        for (const auto& l : lines.mid(1)) {
            inline_files += l["key"] == "file";
            lfs_files += l["key"] == "lfsFile";
            if (l["key"] == "lfsFile") {
                QCOMPARE(l["value"].toObject()["oid"].toString(), QString(FakeHub::sha256(weights)));
                QCOMPARE(l["value"].toObject()["size"].toInteger(), qint64(weights.size()));
            }
        }
        QCOMPARE(inline_files, 2);
        QCOMPARE(lfs_files, 1);
        QStringList sequence;
        for (const auto& req : m_hub->log())
            sequence << QString::fromUtf8(req.method) + " " +
                            QString::fromUtf8(req.path).section(QChar('/'), -2);
        QCOMPARE(sequence, QStringList({"POST repos/create", "POST preupload/main", "POST objects/batch",
                                        "PUT storage/" + QString(FakeHub::sha256(weights)),
                                        "POST objects/verify", "POST commit/main"}));

        // Again: the repository exists (409) and the LFS object is there, so nothing is PUT.
        m_hub->clear_log();
        push_to_hub(settings(), o, files);
        for (const auto& req : m_hub->log()) QVERIFY2(req.method != "PUT", req.path.constData());
        QCOMPARE(m_hub->log().first().status, 409);
        QCOMPARE(m_hub->log().last().status, 200);
    }

    void push_of_a_run_sends_its_adapter() {
        QTemporaryDir out;
        const fs::path run = out.path().toStdString();
        write_file(run / "adapter" / "adapter_config.json", "{}");
        write_file(run / "adapter" / "adapter_model.safetensors", "x");
        write_file(run / "adapter" / "README.md", "card");
        write_file(run / "checkpoints" / "step-10" / "adapter" / "adapter_config.json", "{}");
        write_file(run / "run.json", "{}");
        const auto files = hub_push_files(run);
        std::vector<std::string> names;
        for (const auto& f : files) names.push_back(f.path_in_repo);
        QCOMPARE(names,
                 (std::vector<std::string>{"README.md", "adapter_config.json", "adapter_model.safetensors"}));
    }

    void push_refuses_without_token_or_repo() {
        QTemporaryDir out;
        write_file(fs::path(out.path().toStdString()) / "README.md", "card");
        const auto files = hub_push_files(out.path().toStdString());
        HubPushOptions o;
        o.repo_id = "someone/my-adapter";
        HubSettings no_token = settings();
        no_token.token.reset();
        QVERIFY(error_of<ConfigError>([&] { push_to_hub(no_token, o, files); }).contains("token"));
        HubPushOptions no_repo;
        QVERIFY(error_of<ConfigError>([&] { push_to_hub(settings(), no_repo, files); }).contains("--repo"));
        HubPushOptions bad_repo;
        bad_repo.repo_id = "no-organization";
        QVERIFY(!error_of<ConfigError>([&] { push_to_hub(settings(), bad_repo, files); }).isEmpty());
        QCOMPARE(m_hub->log().size(), 0);
    }
};

QTEST_GUILESS_MAIN(TestHub)
#include "test_hub.moc"
