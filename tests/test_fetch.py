"""``workbench fetch`` against a fake Hub: a loopback HTTP server that answers as
huggingface.co does (``HEAD``/``GET /{repo}/resolve/{revision}/{path}`` with the
``X-Repo-Commit`` and ``ETag`` headers), serving a small data folder in the shipped
layout. The real ``hf_hub_download`` runs against it; no other network is touched."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import save_file

from workbench.cli import main
from workbench.fetch import FetchError, FetchInputError, fetch, select
from workbench.files import write_json
from workbench.manifest import MANIFEST, ArtefactChecksumError, build_manifest, verify

from helpers import network_blocked

REPO = "workbench/artefacts"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _hub_folder(root: Path) -> Path:
    """A data folder as shipped: a model's weights and config, an SAE, their manifest."""
    folder = root / "models" / "tiny"
    folder.mkdir(parents=True)
    save_file({"W": torch.arange(12.0).reshape(3, 4)}, str(folder / "model.safetensors"))
    write_json(folder / "config.json", {"n_layers": 1})
    sae = root / "saes" / "tiny" / "blocks.0.hook_resid_post" / "topk"
    sae.mkdir(parents=True)
    save_file({"W_enc": torch.ones(4, 8)}, str(sae / "sae_weights.safetensors"))
    write_json(sae / "cfg.json", {"d_in": 4})
    write_json(root / MANIFEST, build_manifest(root))
    return root


class _Hub(BaseHTTPRequestHandler):
    files: Path  # the repository's files
    served: list[str]  # paths downloaded (GET), in order
    corrupt: set[str] = set()  # paths served with one byte changed

    def _file(self) -> Path | None:
        prefix = f"/{REPO}/resolve/main/"
        path = unquote(self.path.split("?")[0])
        if not path.startswith(prefix):
            return None
        file = self.files / path[len(prefix) :]
        return file if file.is_file() else None

    def _headers(self, file: Path) -> None:
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()

    def do_HEAD(self):  # noqa: N802 (http.server's name)
        file = self._file()
        if file is None:
            known = self.path.startswith(f"/{REPO}/")
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound" if known else "RepoNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._headers(file)

    def do_GET(self):  # noqa: N802
        file = self._file()
        if file is None:
            self.do_HEAD()
            return
        self._headers(file)
        body = file.read_bytes()
        rel = file.relative_to(self.files).as_posix()
        if rel in self.corrupt:
            body = bytes([body[0] ^ 1]) + body[1:]
        self.served.append(rel)
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """(the repository's folder, the list of files served); the Hub client points at it."""
    files = _hub_folder(tmp_path / "repo")
    handler = type("Hub", (_Hub,), {"files": files, "served": [], "corrupt": set()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"  # as HF_ENDPOINT sets them on import
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def _same(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def test_fetch_fills_an_empty_data_folder_and_checks_every_file(hub, tmp_path):
    data = tmp_path / "data"  # does not exist yet
    with network_blocked() as refused:
        report = fetch(repo=REPO, data_dir=data)
    assert refused == []
    listed = [e["path"] for e in build_manifest(hub.files)["files"]]
    assert sorted(report.fetched) == sorted(listed) and len(listed) == 4
    for rel in listed:
        assert _same(data / rel, hub.files / rel)
    manifest = (data / MANIFEST).read_text()
    assert '"repo_id": "workbench/artefacts"' in manifest  # later fetches need no --repo
    assert not [p for p in data.iterdir() if p.name.startswith(".fetch-")]  # staging gone
    verify(data / "models/tiny/model.safetensors")  # loading checks what was fetched

    again = fetch(data_dir=data)  # the repository from the manifest; nothing to download
    assert again.fetched == [] and sorted(again.present) == sorted(listed)
    assert len(hub.served) == 4 + 2  # two manifests, four files: nothing twice


def test_fetch_picks_folders_and_globs(hub, tmp_path):
    data = tmp_path / "data"
    report = fetch(["saes/tiny"], repo=REPO, data_dir=data)
    assert sorted(report.fetched) == [
        "saes/tiny/blocks.0.hook_resid_post/topk/cfg.json",
        "saes/tiny/blocks.0.hook_resid_post/topk/sae_weights.safetensors",
    ]
    assert not (data / "models").exists()
    report = fetch(["models/*/config.json"], data_dir=data)
    assert report.fetched == ["models/tiny/config.json"]


def test_a_pattern_that_picks_nothing_says_what_is_there():
    files = [{"path": "models/a/x"}, {"path": "saes/a/y"}]
    assert select(files, []) == files
    assert select(files, ["models/a/"]) == [files[0]]
    with pytest.raises(FetchInputError, match="'model/a' matches no file.*models, saes"):
        select(files, ["model/a"])


def test_a_local_file_that_differs_is_kept_unless_overwrite(hub, tmp_path):
    data = tmp_path / "data"
    mine = data / "models/tiny/config.json"
    mine.parent.mkdir(parents=True)
    mine.write_text('{"n_layers": 7}\n')  # a re-made artefact, say
    report = fetch(["models/tiny"], repo=REPO, data_dir=data)
    assert report.kept == ["models/tiny/config.json"]
    assert mine.read_text() == '{"n_layers": 7}\n'
    assert "pass --overwrite" in report.summary()
    fetch(["models/tiny"], repo=REPO, data_dir=data, overwrite=True)
    assert _same(mine, hub.files / "models/tiny/config.json")


def test_a_corrupt_download_names_the_file_and_writes_nothing(hub, tmp_path):
    hub.corrupt = {"models/tiny/model.safetensors"}
    data = tmp_path / "data"
    with pytest.raises(FetchError, match=r"models/tiny/model.safetensors .* SHA-256"):
        fetch(["models/tiny/model.safetensors"], repo=REPO, data_dir=data)
    assert not (data / "models/tiny/model.safetensors").exists()
    assert [p.name for p in data.iterdir()] == []  # no staging folder, no half file


def test_a_missing_file_or_repository_is_named(hub, tmp_path):
    data = tmp_path / "data"
    (hub.files / "saes/tiny/blocks.0.hook_resid_post/topk/cfg.json").unlink()
    with pytest.raises(FetchError, match="cfg.json is not in the model repository"):
        fetch(["saes"], repo=REPO, data_dir=data)
    with pytest.raises(FetchError, match="No model repository other/repo@main"):
        fetch(repo="other/repo", data_dir=data)


def test_offline_says_so_before_writing_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")
    data = tmp_path / "data"
    with network_blocked(), pytest.raises(FetchError, match="Cannot reach the Hugging Face Hub"):
        fetch(repo=REPO, data_dir=data)
    assert not data.exists()


def test_no_repository_named_says_how_to_name_one(tmp_path):
    (tmp_path / MANIFEST).write_text('{"generated_by": "workbench manifest", "files": []}')
    with pytest.raises(FetchError, match="--repo OWNER/NAME"):
        fetch(data_dir=tmp_path)
    with pytest.raises(FetchInputError, match="'owner/name'"):
        fetch(repo="no-slash", data_dir=tmp_path)


def test_the_command_fetches_and_reports(hub, tmp_path, capsys):
    data = tmp_path / "data"
    main(["fetch", "models/tiny", "--repo", REPO, "--data", str(data), "--dry-run"])
    out = capsys.readouterr().out
    assert "would fetch models/tiny/config.json" in out and not data.joinpath("models").exists()
    main(["fetch", "models/tiny", "--repo", REPO, "--data", str(data)])
    assert "2 files fetched" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["fetch", "nowhere", "--data", str(data)])
    assert exit_.value.code == 2
    assert "'nowhere' matches no file" in capsys.readouterr().err


def test_the_manifest_keeps_its_hub_repository_when_regenerated(tmp_path):
    from workbench.manifest import write_manifest

    (tmp_path / "a.json").write_text("{}")
    hub = {"repo_id": "o/n", "repo_type": "model", "revision": "v1"}
    write_json(tmp_path / MANIFEST, {"generated_by": "workbench manifest", "files": [], "hub": hub})
    write_manifest(tmp_path)
    text = (tmp_path / MANIFEST).read_text()
    assert '"revision": "v1"' in text and '"a.json"' in text
    with pytest.raises(ArtefactChecksumError):
        (tmp_path / MANIFEST).write_text("[")
        write_manifest(tmp_path)
