#!/usr/bin/env python3
"""Proof that qlora's Hugging Face cache is the one huggingface_hub (and so transformers) uses,
both ways, against a local Hub that serves a fixture model:
  1. `qlora download` fills a cache; huggingface_hub then finds the model offline
     (snapshot_download(local_files_only=True)) at the same snapshot, and scan_cache_dir()
     reports it without warnings.
  2. huggingface_hub fills a fresh cache; `qlora download` then prints the same snapshot with
     the Hub unreachable (HF_ENDPOINT pointing at a closed port).
usage: prove_hub_cache.py QLORA_BINARY MODEL_DIR   (needs huggingface_hub, e.g. in a venv)"""
import hashlib, json, os, subprocess, sys, tempfile, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QLORA, MODEL_DIR = sys.argv[1], sys.argv[2]
REPO, COMMIT = "acme/tiny", "c0ffee" * 6 + "c0ff"
FILES = sorted(f for f in os.listdir(MODEL_DIR) if f.endswith((".json", ".safetensors")))


def blob(name):
    data = open(os.path.join(MODEL_DIR, name), "rb").read()
    lfs = name.endswith(".safetensors")
    etag = hashlib.sha256(data).hexdigest() if lfs else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return data, etag, lfs


class Hub(BaseHTTPRequestHandler):
    def answer(self, code, body=b"", headers=None, send_body=True):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def route(self, send_body):
        if self.path.startswith(f"/api/models/{REPO}/revision/"):
            siblings = []
            for f in FILES:
                data, etag, lfs = blob(f)
                s = {"rfilename": f, "size": len(data), "blobId": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
                if lfs:
                    s["lfs"] = {"sha256": etag, "size": len(data), "pointerSize": 134}
                siblings.append(s)
            return self.answer(200, json.dumps({"id": REPO, "sha": COMMIT, "siblings": siblings}).encode(),
                               {"Content-Type": "application/json"}, send_body)
        for rev in ("main", COMMIT):
            prefix = f"/{REPO}/resolve/{rev}/"
            if self.path.startswith(prefix) and self.path[len(prefix):] in FILES:
                data, etag, lfs = blob(self.path[len(prefix):])
                headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"'}
                if lfs:
                    headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
                return self.answer(200, data, headers, send_body)
        self.answer(404, b'{"error":"Entry not found"}', {"X-Error-Code": "EntryNotFound"}, send_body)

    def do_GET(self):
        self.route(True)

    def do_HEAD(self):
        self.route(False)

    def log_message(self, *args):
        pass


def qlora_download(home, endpoint):
    env = dict(os.environ, HF_HOME=home, HF_ENDPOINT=endpoint)
    env.pop("HF_HUB_CACHE", None)
    out = subprocess.run([QLORA, "download", REPO], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        ours = qlora_download(a, endpoint)
        check = ("import huggingface_hub as h, sys; "
                 "p = h.snapshot_download(sys.argv[1], local_files_only=True); "
                 "info = h.scan_cache_dir(); "
                 "assert not info.warnings, info.warnings; "
                 "print(p); print(sorted(f.file_name for r in info.repos for rev in r.revisions for f in rev.files))")
        env = dict(os.environ, HF_HOME=a, HF_ENDPOINT=endpoint, HF_HUB_OFFLINE="1")
        env.pop("HF_HUB_CACHE", None)
        out = subprocess.run([sys.executable, "-c", check, REPO], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        theirs, files = out.stdout.splitlines()
        print("qlora download ->", ours)
        print("huggingface_hub offline ->", theirs, files)
        assert os.path.realpath(ours) == os.path.realpath(theirs)

        fill = "import huggingface_hub as h, sys; print(h.snapshot_download(sys.argv[1]))"
        env = dict(os.environ, HF_HOME=b, HF_ENDPOINT=endpoint)
        env.pop("HF_HUB_CACHE", None)
        out = subprocess.run([sys.executable, "-c", fill, REPO], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        theirs = out.stdout.strip().splitlines()[-1]
        server.shutdown()
        ours = qlora_download(b, "http://127.0.0.1:9")  # port 9 (discard): nothing answers
        print("huggingface_hub download ->", theirs)
        print("qlora download offline ->", ours)
        assert os.path.realpath(ours) == os.path.realpath(theirs)
    print("OK: both tools read each other's cache")


main()
