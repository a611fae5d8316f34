"""The manifest of shipped artefacts (``data/manifest.json``) and the check on loading.

1. ``workbench manifest`` lists every file under the data folder (hidden files, this
   manifest and the generated ``README.md`` aside) with its size and SHA-256.
   It refuses what the shipping policy (docs/data.md) keeps out of the data folder:
   checkpoints, optimiser states and pickles, and any file over ``MAX_FILE_BYTES``; it
   keeps the Hub repository the old manifest named (``"hub"``, see ``workbench.fetch``).
2. ``check_manifest`` compares the manifest with the files (a test runs it).
3. Loaders call ``verify(path)`` before reading weights or an architecture config. A file
   the manifest lists must have its size (checked on every read) and its SHA-256 (checked
   the first time the file is read in a process, then cached by path, size and
   modification time). A mismatch raises ``ArtefactChecksumError`` naming the file. Files
   the manifest does not list (your own runs, artefacts made since) are not checked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from workbench import paths
from workbench.files import read_json, write_json

MANIFEST = "manifest.json"
#: Files under the data folder that are not artefacts: the manifest, the generated README.
NOT_LISTED = frozenset({MANIFEST, "README.md"})
#: What ``verify`` checks: tensors and the configs that give their architecture.
VERIFIED = (".safetensors", ".pth", "config.json", "cfg.json", "tokenizer.json")
HINT = (
    "restore it (`git checkout -- data/`), or, if you re-made it on purpose, "
    "regenerate the manifest: `workbench manifest`"
)


#: Never shipped (docs/data.md): pickles, torch checkpoints and optimiser states.
NOT_SHIPPED = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib")
#: The largest file the data folder may hold; larger weights are sharded
#: (``save_model(..., max_shard_bytes=...)``), as the 8-layer model's are.
MAX_FILE_BYTES = 16 * 2**20


class ArtefactChecksumError(ValueError):
    """A shipped file differs from the size or SHA-256 in ``data/manifest.json``."""


class ShippingPolicyError(ValueError):
    """The data folder holds a file the shipping policy keeps out (docs/data.md)."""


def policy_violations(files: list[tuple[str, int]]) -> list[str]:
    """What breaks the shipping policy among ``(path, size)`` pairs, one line each: a
    checkpoint, optimiser state or pickle, or a file over ``MAX_FILE_BYTES``."""
    lines = []
    for path, size in files:
        parts = path.split("/")
        name = parts[-1]
        if (
            name.endswith(NOT_SHIPPED)
            or name.startswith("optimizer")
            or any(p.startswith("ckpt-") or p.endswith(".checkpoints") for p in parts)
        ):
            lines.append(
                f"{path}: a checkpoint, optimiser state or pickle is never shipped; keep it "
                "under runs/ (docs/data.md)"
            )
        elif size > MAX_FILE_BYTES:
            lines.append(
                f"{path}: {size / 2**20:.1f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB a "
                "shipped file may be; shard it (save_model(..., max_shard_bytes=...))"
            )
    return lines


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artefact_files(data: Path) -> list[Path]:
    """Every file the manifest lists, sorted by path."""
    files = []
    for f in sorted(data.rglob("*")):
        rel = f.relative_to(data)
        hidden = any(part.startswith(".") for part in rel.parts)
        if f.is_file() and not hidden and str(rel) not in NOT_LISTED:
            files.append(f)
    return files


def build_manifest(data_dir: str | Path | None = None) -> dict:
    data = paths.data_dir(data_dir)
    files = [
        {"path": f.relative_to(data).as_posix(), "size": f.stat().st_size, "sha256": sha256(f)}
        for f in artefact_files(data)
    ]
    return {"generated_by": "workbench manifest", "files": files}


def write_manifest(data_dir: str | Path | None = None) -> Path:
    """Write the manifest; the Hub repository it names (``"hub"``, see ``workbench.fetch``)
    is kept."""
    data = paths.data_dir(data_dir)
    manifest = build_manifest(data)
    refused = policy_violations([(e["path"], e["size"]) for e in manifest["files"]])
    if refused:
        raise ShippingPolicyError(
            f"Not writing {data / MANIFEST}: the data folder holds what is never shipped:\n"
            + "\n".join(refused)
        )
    if (data / MANIFEST).exists():
        hub = read_json(data / MANIFEST, error=ArtefactChecksumError, what="Manifest").get("hub")
        if hub:
            manifest["hub"] = hub
    write_json(data / MANIFEST, manifest)
    return data / MANIFEST


def check_manifest(data_dir: str | Path | None = None) -> list[str]:
    """How the manifest and the files differ, one line each (empty when they agree)."""
    data = paths.data_dir(data_dir)
    listed = {e["path"]: e for e in _read(data)}
    present = {e["path"]: e for e in build_manifest(data)["files"]}
    lines = policy_violations([(p, e["size"]) for p, e in sorted(present.items())])
    lines += [f"not in the manifest: {p}" for p in sorted(set(present) - set(listed))]
    lines += [f"listed but missing: {p}" for p in sorted(set(listed) - set(present))]
    for p in sorted(set(present) & set(listed)):
        if (present[p]["size"], present[p]["sha256"]) != (listed[p]["size"], listed[p]["sha256"]):
            lines.append(f"changed: {p}")
    return lines


_listed: dict[Path, tuple[int, dict[str, dict]]] = {}  # manifest path -> (mtime_ns, entries)
_checked: set[tuple[Path, int, int]] = set()  # (file, size, mtime_ns) whose SHA-256 matched


def verify(path: str | Path) -> None:
    """Check ``path`` against the manifest of the data folder it lies in, if it is listed."""
    path = Path(path).resolve()
    if not path.name.endswith(VERIFIED) or not path.is_file():
        return
    data = next((d for d in path.parents if _is_manifest(d / MANIFEST)), None)
    if data is None:
        return  # not in a data folder with a manifest: nothing to check against
    entry = _entries(data).get(path.relative_to(data).as_posix())
    if entry is None:
        return
    stat = path.stat()
    if stat.st_size != entry["size"]:
        raise ArtefactChecksumError(
            f"{path} is {stat.st_size:,} bytes, but the manifest ({data / MANIFEST}) says "
            f"{entry['size']:,}: the file is cut short or was replaced; {HINT}."
        )
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key in _checked:
        return
    actual = sha256(path)
    if actual != entry["sha256"]:
        raise ArtefactChecksumError(
            f"{path} has SHA-256 {actual[:16]}..., but the manifest ({data / MANIFEST}) says "
            f"{entry['sha256'][:16]}...: the file is corrupted or was replaced; {HINT}."
        )
    _checked.add(key)


def _is_manifest(file: Path) -> bool:
    """A data folder's manifest (not, say, a rendered site's ``manifest.json``)."""
    if not file.is_file():
        return False
    if file in _listed:
        return True
    try:
        return json.loads(file.read_text()).get("generated_by") == "workbench manifest"
    except (OSError, ValueError, AttributeError):
        return False


def _entries(data: Path) -> dict[str, dict]:
    manifest = data / MANIFEST
    mtime = manifest.stat().st_mtime_ns
    cached = _listed.get(manifest)
    if cached is None or cached[0] != mtime:
        cached = (mtime, {e["path"]: e for e in _read(data)})
        _listed[manifest] = cached
    return cached[1]


def _read(data: Path) -> list[dict]:
    if not (data / MANIFEST).exists():
        return []
    files = read_json(data / MANIFEST, error=ArtefactChecksumError, what="Manifest").get("files")
    if not isinstance(files, list):
        raise ArtefactChecksumError(f"Manifest {data / MANIFEST} has no 'files' list.")
    return files
