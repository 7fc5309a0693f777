// A small Hugging Face Hub for test_hub: it serves one model folder in the Hub's URL layout
// (/api/models/ID/revision/REV, /ID/resolve/COMMIT/FILE with a redirect to a CDN-like path,
// Range requests) and takes uploads the way the Hub does (repo create, preupload, LFS batch
// + PUT to storage + verify, NDJSON commit). Every Hub route checks "Authorization: Bearer
// <token>"; storage does not get the token and checks its own signed header instead. It runs
// blocking sockets on its own thread so the client under test can block too.
#pragma once
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QMutex>
#include <QSet>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>
#include <atomic>
#include <future>

struct HubRequest {
    QByteArray method;
    QByteArray path;                       // with the query
    QMap<QByteArray, QByteArray> headers;  // lower-case names
    QByteArray body;
    int status = 0;  // what we answered
};

class FakeHub : public QThread {
public:
    // --- set before the client runs ---
    QByteArray token = "hf_test_token";
    QString repo_id = "test-org/tiny-llama";
    QByteArray commit = "4f1b2c3d4e5f60718293a4b5c6d7e8f901234567";
    QString source_dir;     // the files served
    QStringList files;      // the names listed (in source_dir)
    QSet<QString> missing;  // listed, but resolve answers 404
    QString truncate_once;  // its first download stops halfway (Content-Length says all)
    QString wrong_sha;      // listed with another file's sha256
    QSet<QString> repos;    // repositories that exist (create answers 409)

    ~FakeHub() override {
        m_stop = true;
        wait();
    }

    quint16 start_serving() {
        start();
        return m_port.get_future().get();
    }
    QString endpoint() const { return QStringLiteral("http://127.0.0.1:%1").arg(m_bound); }

    QList<HubRequest> log() const {
        QMutexLocker lock(&m_mutex);
        return m_log;
    }
    void clear_log() {
        QMutexLocker lock(&m_mutex);
        m_log.clear();
    }
    QMap<QString, QByteArray> committed() const {
        QMutexLocker lock(&m_mutex);
        return m_committed;
    }
    QList<QJsonObject> commit_lines() const {
        QMutexLocker lock(&m_mutex);
        return m_commit_lines;
    }
    QMap<QString, QByteArray> lfs_store() const {
        QMutexLocker lock(&m_mutex);
        return m_lfs;
    }

    static QByteArray sha256(const QByteArray& b) {
        return QCryptographicHash::hash(b, QCryptographicHash::Sha256).toHex();
    }
    // git's blob id: sha1 of "blob <size>\0<content>", the Hub's etag for a non-LFS file.
    static QByteArray git_blob_id(const QByteArray& b) {
        return QCryptographicHash::hash("blob " + QByteArray::number(b.size()) + '\0' + b,
                                        QCryptographicHash::Sha1)
            .toHex();
    }
    static bool is_lfs(const QString& name) {
        return name.endsWith(".safetensors") || name == "tokenizer.json";
    }

protected:
    void run() override {
        QTcpServer server;
        server.listen(QHostAddress::LocalHost, 0);
        m_bound = server.serverPort();
        m_port.set_value(m_bound);
        while (!m_stop) {
            if (!server.waitForNewConnection(20)) continue;
            while (QTcpSocket* s = server.nextPendingConnection()) {
                serve(*s);
                s->disconnectFromHost();
                if (s->state() != QAbstractSocket::UnconnectedState) s->waitForDisconnected(2000);
                delete s;
            }
        }
    }

private:
    bool read_request(QTcpSocket& s, HubRequest& r) {
        QByteArray head;
        while (!head.contains("\r\n\r\n")) {
            if (!s.waitForReadyRead(5000)) return false;
            head += s.readAll();
        }
        const qsizetype end = head.indexOf("\r\n\r\n");
        r.body = head.mid(end + 4);
        const QList<QByteArray> lines = head.left(end).split('\n');
        const QList<QByteArray> first = lines[0].trimmed().split(' ');
        if (first.size() < 2) return false;
        r.method = first[0];
        r.path = first[1];
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const qsizetype colon = lines[i].indexOf(':');
            if (colon > 0)
                r.headers[lines[i].left(colon).trimmed().toLower()] = lines[i].mid(colon + 1).trimmed();
        }
        const qsizetype length = r.headers.value("content-length", "0").toLongLong();
        while (r.body.size() < length) {
            if (!s.waitForReadyRead(5000)) return false;
            r.body += s.readAll();
        }
        return true;
    }

    // Logs the request with its answer first, so a client that returns has its request logged.
    void send(QTcpSocket& s, int status, const QByteArray& body, const QList<QByteArray>& headers = {},
              qsizetype content_length = -1) {
        {
            QMutexLocker lock(&m_mutex);
            m_current.status = status;
            m_log.push_back(m_current);
        }
        QByteArray out = "HTTP/1.1 " + QByteArray::number(status) + " X\r\nConnection: close\r\n";
        for (const auto& h : headers) out += h + "\r\n";
        out += "Content-Length: " + QByteArray::number(content_length < 0 ? body.size() : content_length) +
               "\r\n\r\n";
        out += body;
        s.write(out);
        while (s.bytesToWrite() > 0 && s.waitForBytesWritten(5000)) {
        }
    }
    static QByteArray json(const QJsonObject& o) { return QJsonDocument(o).toJson(QJsonDocument::Compact); }
    QByteArray file_bytes(const QString& name) const {
        QFile f(source_dir + "/" + name);
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    }
    bool authorized(const HubRequest& r) const {
        return r.headers.value("authorization") == "Bearer " + token;
    }

    void serve(QTcpSocket& s) {
        m_current = HubRequest();
        if (read_request(s, m_current)) route(s, m_current);
    }

    int answer(QTcpSocket& s, int status, const QByteArray& body = "{}",
               const QList<QByteArray>& headers = {}) {
        send(s, status, body, headers);
        return status;
    }

    int route(QTcpSocket& s, const HubRequest& r) {
        const QString path = QString::fromUtf8(r.path);
        const QString repo_prefix = "/" + repo_id + "/";
        if (path.startsWith("/cdn/")) return serve_file(s, r, path.mid(5).section('?', 0, 0));
        if (path.startsWith("/storage/")) return store_lfs(s, r, path.mid(9));
        if (!authorized(r))
            return answer(s, 401, R"({"error":"Invalid credentials in Authorization header"})");
        if (r.method == "GET" && path.startsWith("/api/models/" + repo_id + "/revision/"))
            return answer(s, 200, listing());
        if (r.method == "GET" && path.startsWith("/api/models/"))
            return answer(s, 404, R"({"error":"Repository not found"})");
        if (r.method == "GET" && path.startsWith(repo_prefix + "resolve/" + commit + "/")) {
            const QString file = path.mid((repo_prefix + "resolve/" + commit + "/").size());
            if (!files.contains(file) || missing.contains(file))
                return answer(s, 404, R"({"error":"Entry not found"})");
            if (is_lfs(file))
                return answer(s, 302, "", {"Location: /cdn/" + file.toUtf8() + "?X-Amz-Signature=abc"});
            return serve_file(s, r, file);
        }
        if (r.method == "POST" && path == "/api/repos/create") return create_repo(s, r);
        if (r.method == "POST" && path.startsWith("/api/models/") && path.contains("/preupload/"))
            return preupload(s, r);
        if (r.method == "POST" && path.endsWith(".git/info/lfs/objects/batch")) return lfs_batch(s, r);
        if (r.method == "POST" && path.endsWith(".git/info/lfs/objects/verify")) {
            const QJsonObject o = QJsonDocument::fromJson(r.body).object();
            QMutexLocker lock(&m_mutex);
            return answer(s, m_lfs.contains(o["oid"].toString()) ? 200 : 404);
        }
        if (r.method == "POST" && path.startsWith("/api/models/") && path.contains("/commit/"))
            return commit_ndjson(s, r);
        return answer(s, 404, R"({"error":"no such route"})");
    }

    QByteArray listing() const {
        QJsonArray siblings;
        for (const QString& name : files) {
            const QByteArray bytes = file_bytes(name);
            QJsonObject sib{
                {"rfilename", name}, {"size", bytes.size()}, {"blobId", QString(git_blob_id(bytes))}};
            if (is_lfs(name)) {
                const QByteArray sha = name == wrong_sha ? sha256(bytes + "x") : sha256(bytes);
                sib["lfs"] =
                    QJsonObject{{"sha256", QString(sha)}, {"size", bytes.size()}, {"pointerSize", 134}};
            }
            siblings.append(sib);
        }
        return json({{"id", repo_id}, {"sha", QString(commit)}, {"siblings", siblings}});
    }

    int serve_file(QTcpSocket& s, const HubRequest& r, const QString& file) {
        if (!files.contains(file)) return answer(s, 404, R"({"error":"Entry not found"})");
        const QByteArray bytes = file_bytes(file);
        if (file == truncate_once) {
            truncate_once.clear();
            send(s, 200, bytes.left(bytes.size() / 2), {}, bytes.size());
            return 200;
        }
        const QByteArray range = r.headers.value("range");
        if (range.startsWith("bytes=") && range.endsWith('-')) {
            const qsizetype from = range.mid(6, range.size() - 7).toLongLong();
            send(s, 206, bytes.mid(from),
                 {"Content-Range: bytes " + QByteArray::number(from) + "-" +
                  QByteArray::number(bytes.size() - 1) + "/" + QByteArray::number(bytes.size())});
            return 206;
        }
        send(s, 200, bytes);
        return 200;
    }

    int create_repo(QTcpSocket& s, const HubRequest& r) {
        const QJsonObject o = QJsonDocument::fromJson(r.body).object();
        const QString id = o["organization"].toString() + "/" + o["name"].toString();
        QMutexLocker lock(&m_mutex);
        if (repos.contains(id)) return answer(s, 409, R"({"error":"You already created this model repo"})");
        repos.insert(id);
        return answer(s, 200, json({{"url", endpoint() + "/" + id}}));
    }

    int preupload(QTcpSocket& s, const HubRequest& r) {
        QJsonArray out;
        for (const auto& v : QJsonDocument::fromJson(r.body).object()["files"].toArray()) {
            const QJsonObject f = v.toObject();
            const bool sample_ok = !QByteArray::fromBase64(f["sample"].toString().toUtf8()).isEmpty();
            if (!sample_ok || !f.contains("size"))
                return answer(s, 400, R"({"error":"bad preupload entry"})");
            out.append(
                QJsonObject{{"path", f["path"]},
                            {"uploadMode", f["path"].toString().endsWith(".safetensors") ? "lfs" : "regular"},
                            {"shouldIgnore", false}});
        }
        return answer(s, 200, json({{"files", out}}));
    }

    int lfs_batch(QTcpSocket& s, const HubRequest& r) {
        if (r.headers.value("content-type") != "application/vnd.git-lfs+json") return answer(s, 415);
        const QJsonObject req = QJsonDocument::fromJson(r.body).object();
        if (req["operation"].toString() != "upload" || req["hash_algo"].toString() != "sha256")
            return answer(s, 422);
        QJsonArray objects;
        QMutexLocker lock(&m_mutex);
        for (const auto& v : req["objects"].toArray()) {
            const QString oid = v.toObject()["oid"].toString();
            QJsonObject o{{"oid", oid}, {"size", v.toObject()["size"]}};
            if (!m_lfs.contains(oid))
                o["actions"] = QJsonObject{
                    {"upload", QJsonObject{{"href", endpoint() + "/storage/" + oid},
                                           {"header", QJsonObject{{"X-Storage-Signature", "sig-" + oid}}}}},
                    {"verify",
                     QJsonObject{{"href", endpoint() + "/" + repo_id + ".git/info/lfs/objects/verify"}}}};
            objects.append(o);
        }
        return answer(s, 200, json({{"transfer", "basic"}, {"objects", objects}}));
    }

    int store_lfs(QTcpSocket& s, const HubRequest& r, const QString& oid) {
        if (r.method != "PUT" || r.headers.value("x-storage-signature") != "sig-" + oid.toUtf8() ||
            r.headers.contains("authorization") || sha256(r.body) != oid.toUtf8())
            return answer(s, 403, "refused");
        QMutexLocker lock(&m_mutex);
        m_lfs[oid] = r.body;
        return answer(s, 200, "");
    }

    int commit_ndjson(QTcpSocket& s, const HubRequest& r) {
        if (r.headers.value("content-type") != "application/x-ndjson") return answer(s, 415);
        QList<QJsonObject> lines;
        for (const QByteArray& line : r.body.split('\n'))
            if (!line.trimmed().isEmpty()) lines.push_back(QJsonDocument::fromJson(line).object());
        if (lines.isEmpty() || lines[0]["key"].toString() != "header" ||
            lines[0]["value"].toObject()["summary"].toString().isEmpty())
            return answer(s, 422, R"({"error":"the first line must be the header"})");
        QMutexLocker lock(&m_mutex);
        QMap<QString, QByteArray> files;
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const QJsonObject v = lines[i]["value"].toObject();
            const QString key = lines[i]["key"].toString();
            if (key == "file" && v["encoding"].toString() == "base64") {
                files[v["path"].toString()] = QByteArray::fromBase64(v["content"].toString().toUtf8());
            } else if (key == "lfsFile" && v["algo"].toString() == "sha256" &&
                       m_lfs.contains(v["oid"].toString()) &&
                       v["size"].toInteger() == m_lfs[v["oid"].toString()].size()) {
                files[v["path"].toString()] = m_lfs[v["oid"].toString()];
            } else {
                return answer(s, 422, R"({"error":"bad commit line"})");
            }
        }
        for (auto it = files.begin(); it != files.end(); ++it) m_committed[it.key()] = it.value();
        m_commit_lines = lines;
        return answer(
            s, 200, json({{"commitUrl", endpoint() + "/" + repo_id + "/commit/abc"}, {"commitOid", "abc"}}));
    }

    mutable QRecursiveMutex m_mutex;  // send() logs while a route may hold it
    HubRequest m_current;             // the request being answered (server thread only)
    QList<HubRequest> m_log;
    QMap<QString, QByteArray> m_lfs;
    QMap<QString, QByteArray> m_committed;
    QList<QJsonObject> m_commit_lines;
    std::promise<quint16> m_port;
    quint16 m_bound = 0;
    std::atomic<bool> m_stop{false};
};
