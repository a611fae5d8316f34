"""``workbench fetch``: shipped artefacts from a Hugging Face Hub repository.

A repository that mirrors the data folder (``manifest.json`` at its root, every file at
the path the manifest lists) can fill a data folder that has none of them, e.g. beside a
``pip install`` or a clone made without ``data/`` (docs/data.md).

1. The repository: ``repo=`` or the ``"hub"`` entry of the local ``manifest.json``
   (``{"repo_id": ..., "repo_type": "model", "revision": "main"}``, kept when the manifest
   is regenerated). None is named today: nothing has been uploaded from this clone.
2. The Hub must answer (``models.hub.hub_reachable``); offline, ``FetchError`` says so at
   once, naming the endpoint, before anything is written.
3. The repository's ``manifest.json`` says which files exist, with sizes and SHA-256s;
   ``patterns`` pick some (a folder, a file, or a glob), default all.
4. Each picked file: present with the manifest's SHA-256 -> left alone; present and
   different -> kept (your own run, say) unless ``overwrite``; missing -> downloaded into
   a staging folder inside the data folder, checked against size and SHA-256, then renamed
   into place, so a data folder never holds half a file. A failed download or a checksum
   mismatch raises ``FetchError`` naming the file.
5. A data folder without a manifest gets the repository's, so loading checks what was
   fetched (``workbench.manifest.verify``).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from workbench import paths
from workbench.files import read_json, write_json
from workbench.manifest import MANIFEST, sha256
from workbench.models.hub import hub_endpoint, hub_reachable, hub_timeouts

RepoType = Literal["model", "dataset"]


class FetchError(OSError):
    """The Hub did not answer, or a file could not be downloaded or failed its checksum."""


class FetchInputError(ValueError):
    """A repository name, type or pattern that is not valid; the message says what is."""


@dataclass(frozen=True)
class HubSource:
    """Where the artefacts live on the Hub (a repository laid out as the data folder)."""

    repo_id: str  # "owner/name"
    repo_type: RepoType = "model"  # a model or a dataset repository
    revision: str = "main"  # a branch, tag or commit

    def __post_init__(self) -> None:
        owner, _, name = self.repo_id.partition("/")
        if not owner or not name or "/" in name:
            raise FetchInputError(f"repo must be 'owner/name', got {self.repo_id!r}.")
        if self.repo_type not in ("model", "dataset"):
            raise FetchInputError(
                f"repo_type must be 'model' or 'dataset', got {self.repo_type!r}."
            )


@dataclass
class FetchReport:
    """What ``fetch`` did, file by file (paths relative to the data folder)."""

    data_dir: Path
    source: HubSource
    fetched: list[str] = field(default_factory=list)  # downloaded and checked
    present: list[str] = field(default_factory=list)  # already there, same SHA-256
    kept: list[str] = field(default_factory=list)  # there but different: left as it was
    bytes_fetched: int = 0

    def summary(self) -> str:
        lines = [
            f"{len(self.fetched)} files fetched ({self.bytes_fetched / 1e6:.1f} MB) from "
            f"{self.source.repo_id}@{self.source.revision} into {self.data_dir}; "
            f"{len(self.present)} already present"
        ]
        lines += [
            f"kept {p}: it differs from the Hub's copy (pass --overwrite to replace it)"
            for p in self.kept
        ]
        return "\n".join(lines) + "\n"


def hub_source(
    data_dir: Path | None,
    repo: str | None = None,
    *,
    revision: str | None = None,
    repo_type: RepoType | None = None,
) -> HubSource:
    """``repo`` if given, else the ``"hub"`` entry of ``data_dir``'s manifest."""
    entry: dict = {}
    manifest = data_dir / MANIFEST if data_dir is not None else None
    if manifest is not None and manifest.exists():
        entry = read_json(manifest, error=FetchError, what="Manifest").get("hub") or {}
    repo = repo or entry.get("repo_id")
    if not repo:
        where = manifest if manifest is not None and manifest.exists() else "no manifest"
        raise FetchError(
            f"No Hub repository to fetch from ({where} names none: no upload has been made "
            "from this clone yet). Pass one: `workbench fetch --repo OWNER/NAME`."
        )
    return HubSource(
        repo,
        repo_type=repo_type or entry.get("repo_type", "model"),
        revision=revision or entry.get("revision", "main"),
    )


def select(files: list[dict], patterns: list[str]) -> list[dict]:
    """The manifest entries that ``patterns`` pick: a path, a folder (everything under it)
    or a glob; all when there are none. A pattern that picks nothing is an error."""
    if not patterns:
        return list(files)
    picked: dict[str, dict] = {}
    for pattern in patterns:
        clean = pattern.strip("/")
        hits = [
            f
            for f in files
            if fnmatch.fnmatchcase(f["path"], clean)
            or f["path"] == clean
            or f["path"].startswith(clean + "/")
        ]
        if not hits:
            tops = sorted({f["path"].split("/")[0] for f in files})
            raise FetchInputError(
                f"{pattern!r} matches no file in the manifest: give a folder (e.g. "
                f"models/othello-gpt-cpu-6l), a file or a glob under {', '.join(tops)}."
            )
        picked.update((f["path"], f) for f in hits)
    return [picked[p] for p in sorted(picked)]


def fetch(
    patterns: list[str] | None = None,
    *,
    repo: str | None = None,
    revision: str | None = None,
    repo_type: RepoType | None = None,
    data_dir: str | Path | None = None,
    overwrite: bool = False,
    dry_run: bool = False,
) -> FetchReport:
    """Download the artefacts ``patterns`` pick from the Hub into the data folder.

    ``data_dir``: the folder to fill (made if missing); default the data folder as found
    (``workbench.paths``). ``dry_run``: read the repository's manifest and report what
    would be downloaded, writing nothing. See the module doc for the steps.
    """
    data = _target(data_dir)
    source = hub_source(data, repo, revision=revision, repo_type=repo_type)
    if not hub_reachable():
        raise FetchError(
            f"Cannot reach the Hugging Face Hub at {hub_endpoint()} (offline, blocked, or "
            f"HF_HUB_OFFLINE is set): nothing fetched from {source.repo_id}. Without network, "
            "point the workbench at a clone's data folder instead: "
            f"`export {paths.ENV_VAR}=/path/to/workbench/data`."
        )
    data.mkdir(parents=True, exist_ok=True)
    report = FetchReport(data, source)
    staging = Path(tempfile.mkdtemp(dir=data, prefix=".fetch-"))  # hidden: never listed
    try:
        remote = _download(source, MANIFEST, staging)
        files = read_json(remote, error=FetchError, what="The Hub's manifest").get("files")
        if not isinstance(files, list):
            raise FetchError(f"The manifest of {source.repo_id} has no 'files' list.")
        for entry in select(files, list(patterns or [])):
            _fetch_one(entry, source, data, staging, report, overwrite=overwrite, dry_run=dry_run)
        if not dry_run and not (data / MANIFEST).exists():
            manifest = read_json(remote, error=FetchError, what="The Hub's manifest")
            write_json(data / MANIFEST, {**manifest, "hub": _hub_entry(source)})
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the staging folder fetch made
    return report


def _fetch_one(
    entry: dict,
    source: HubSource,
    data: Path,
    staging: Path,
    report: FetchReport,
    *,
    overwrite: bool,
    dry_run: bool,
) -> None:
    rel, target = entry["path"], data / entry["path"]
    if target.exists():
        if target.stat().st_size == entry["size"] and sha256(target) == entry["sha256"]:
            report.present.append(rel)
            return
        if not overwrite:
            report.kept.append(rel)
            return
    if dry_run:
        report.fetched.append(rel)
        report.bytes_fetched += entry["size"]
        return
    downloaded = _download(source, rel, staging)
    size, digest = downloaded.stat().st_size, sha256(downloaded)
    if (size, digest) != (entry["size"], entry["sha256"]):
        raise FetchError(
            f"{rel} from {source.repo_id}@{source.revision} is {size:,} bytes with SHA-256 "
            f"{digest[:16]}..., but the manifest says {entry['size']:,} bytes, "
            f"{entry['sha256'][:16]}...: the download is corrupt or the repository is out "
            "of step with its manifest. Nothing was written for this file."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(downloaded, target)  # same file system: atomic
    report.fetched.append(rel)
    report.bytes_fetched += size


def _download(source: HubSource, filename: str, staging: Path) -> Path:
    """One file of the repository, into ``staging``; any failure names the file."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{source.repo_type} repository {source.repo_id}@{source.revision} on {hub_endpoint()}"
    try:
        with hub_timeouts():
            path = hf_hub_download(
                source.repo_id,
                filename,
                repo_type=source.repo_type,
                revision=source.revision,
                local_dir=staging,
                endpoint=hub_endpoint(),
            )
    except RepositoryNotFoundError as err:
        raise FetchError(f"No {where} (or it is private: log in with `hf auth login`).") from err
    except RevisionNotFoundError as err:
        raise FetchError(f"No revision {source.revision!r} in {where}.") from err
    except EntryNotFoundError as err:
        raise FetchError(f"{filename} is not in the {where}.") from err
    except (HfHubHTTPError, OSError) as err:
        raise FetchError(f"Downloading {filename} from the {where} failed: {err}") from err
    return Path(path)


def _target(data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    return paths.data_dir()


def _hub_entry(source: HubSource) -> dict:
    return {"repo_id": source.repo_id, "repo_type": source.repo_type, "revision": source.revision}
