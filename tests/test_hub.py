"""Hugging Face Hub ids, against a local stand-in for the Hub API on 127.0.0.1 (nothing reaches the
internet): the first run downloads, the second runs offline from what it fetched, and with no
network and nothing fetched one message says what to do."""

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import pytest

import electra_tf as et
from electra_tf.checkpoints.hf import write_tokenizer_files
from electra_tf.checkpoints.hub import hub_folder, looks_like_hub_id
from tests.conftest import ROOT

VOCAB = f"{ROOT}/examples/data/models/electra-tiny/vocab.txt"
REPO = "tiny-org/electra-tiny-cls"
COMMITS = {"main": "a" * 40, "v1": "b" * 40}  # two revisions with different label counts


class FakeHub(BaseHTTPRequestHandler):
    """The routes huggingface_hub's snapshot_download calls: repo info, tree listing, file resolve."""

    repos = {}  # revision -> {file name: bytes}
    requests = []

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=None, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _files(self, revision):
        for name, commit in COMMITS.items():
            if revision in (name, commit):
                return commit, self.repos[name]
        return None, None

    def _route(self):
        path = unquote(urlparse(self.path).path)
        FakeHub.requests.append(f"{self.command} {path}")
        api = f"/api/models/{REPO}"
        if path.startswith(api):
            rest = path[len(api):].strip("/").split("/")
            revision = rest[1] if len(rest) > 1 else "main"
            commit, files = self._files(revision)
            if commit is None:
                return self._send(404, b'{"error": "Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"})
            if rest[0] == "tree":
                listing = [{"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                           for n, b in sorted(files.items())]
                return self._send(200, json.dumps(listing).encode())
            info = {"id": REPO, "modelId": REPO, "sha": commit, "private": False,
                    "siblings": [{"rfilename": n} for n in sorted(files)]}
            return self._send(200, json.dumps(info).encode())
        prefix = f"/{REPO}/resolve/"
        if path.startswith(prefix):
            revision, _, name = path[len(prefix):].partition("/")
            commit, files = self._files(revision)
            if commit is None:
                return self._send(404, b"", {"X-Error-Code": "RevisionNotFound"})
            if name not in files:
                return self._send(404, b"", {"X-Error-Code": "EntryNotFound"})
            body = files[name]
            return self._send(200, body, {"ETag": f'"{hashlib.sha1(body).hexdigest()}"', "X-Repo-Commit": commit},
                              content_type="application/octet-stream")
        return self._send(404, b"", {"X-Error-Code": "RepoNotFound"})

    do_GET = _route
    do_HEAD = _route


@pytest.fixture(scope="module")
def hub_files(tmp_path_factory):
    """The two revisions' files: a tiny HF classifier (2 labels on main, 3 on v1) with vocab.txt."""
    revisions = {}
    for revision, labels in (("main", 2), ("v1", 3)):
        folder = tmp_path_factory.mktemp(revision)
        config = et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=37, max_position_embeddings=64, num_labels=labels, head="hf")
        et.TFElectraForSequenceClassification(config).build_with_dummy_inputs().save_pretrained(str(folder), format="hf")
        write_tokenizer_files(str(folder), VOCAB, do_lower_case=True)
        revisions[revision] = {n: (folder / n).read_bytes() for n in os.listdir(folder) if (folder / n).is_file()}
    return revisions


def _serve(files):
    FakeHub.repos = files
    FakeHub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


SCRIPT = """
import json, sys
import electra_tf as et
from electra_tf.finetuning.hparams import FinetuningConfig
from electra_tf.errors import ElectraError
data_dir, revision = sys.argv[1], (sys.argv[2] or None)
try:
    model = et.TFElectraForSequenceClassification.from_pretrained({repo!r}, revision=revision)
    config = FinetuningConfig({repo!r}, data_dir, task_names=["sst"], **({{"model_revision": revision}} if revision else {{}}))
except ElectraError as e:
    print("ERROR:", e)
    sys.exit(2)
print(json.dumps({{"num_labels": model.config.num_labels, "model_dir": config.pretrained_model_dir,
                  "vocab": config.vocab_file, "init": config.init_checkpoint}}))
"""


def _run(tmp_path, endpoint, data_dir, revision=""):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="5", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(repo=REPO), str(data_dir), revision], env=env,
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    return proc


def test_hub_ids_are_recognised():
    assert looks_like_hub_id("google/electra-small-discriminator")
    assert not looks_like_hub_id("electra_small") and not looks_like_hub_id("/abs/path") and not looks_like_hub_id("a/b/c")
    assert not looks_like_hub_id("../x")
    assert hub_folder("/d/models", "a/b", "v1.0") == "/d/models/a--b@v1.0"


def test_hub_id_downloads_once_then_runs_offline(tmp_path, hub_files):
    data_dir = tmp_path / "data"
    (data_dir / "models").mkdir(parents=True)
    server = _serve(hub_files)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        first = _run(tmp_path, endpoint, data_dir)
        pinned = _run(tmp_path, endpoint, data_dir, revision="v1")
    finally:
        server.shutdown()
        server.server_close()
    assert first.returncode == 0, first.stdout + first.stderr
    out = json.loads(first.stdout.strip().splitlines()[-1])
    folder = str(data_dir / "models" / "tiny-org--electra-tiny-cls")
    assert out["num_labels"] == 2 and out["model_dir"] == folder and out["init"] == folder
    assert out["vocab"] == os.path.join(folder, "vocab.txt")
    assert (data_dir / "models" / "tiny-org--electra-tiny-cls" / "model.safetensors").is_file()
    assert any(r.startswith("GET /tiny-org/electra-tiny-cls/resolve/") for r in FakeHub.requests)
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    out = json.loads(pinned.stdout.strip().splitlines()[-1])
    assert out["num_labels"] == 3 and out["model_dir"] == folder + "@v1"

    # The server is gone: the second run uses what the first fetched (the folder; the Hub cache).
    second = _run(tmp_path, endpoint, data_dir)
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads(second.stdout.strip().splitlines()[-1])["num_labels"] == 2


def test_no_network_gives_one_clear_message(tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "models").mkdir(parents=True)
    server = _serve({})
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()  # nothing listens there now
    proc = _run(tmp_path, endpoint, data_dir)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = proc.stdout
    assert "ERROR: Could not download 'tiny-org/electra-tiny-cls'" in message
    assert "config.json" in message and "vocab.txt" in message and "HF_HUB_OFFLINE=1" in message
