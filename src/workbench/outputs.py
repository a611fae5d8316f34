"""Output folders the workbench writes whole (a rendered site, an SAE, a shipped model),
without ever deleting what it did not write.

1. Refuse a folder it must never replace, even when asked to: ``/``, the user's home, the
   repository and its own folders (``notebooks/``, ``src/``, ``data/`` ...), the working
   directory, any folder above one of these, and any the caller protects (e.g. the
   notebooks being rendered).
2. Refuse an existing non-empty folder the workbench did not write, unless ``overwrite``:
   the workbench wrote it if it carries the marker file (``.workbench-output``: which
   command wrote it, when, and its files) and holds no file the marker does not list, or
   if the caller recognises it as its own older output (written before the marker existed).
3. Write into a fresh temporary sibling, add the marker, then swap it in: the old folder
   is renamed aside, the new one renamed into place, and the old one deleted only if it
   is still the workbench's (or ``overwrite`` was given); otherwise it is kept beside,
   under a name that says so. A failure leaves the old folder as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = ".workbench-output"

#: A caller's test for its own output written before the marker existed.
Recognise = Callable[[Path], bool]


class OutputFolderError(ValueError):
    """An output folder the workbench may not write, or may not replace without asking."""


class KeptFolderWarning(UserWarning):
    """A replaced folder held files the workbench did not write: it was kept, not deleted."""


def repo_root() -> Path:
    from workbench import paths

    return paths.CLONE_ROOT


def _never_paths(protect: Collection[Path]) -> list[Path]:
    """Folders no output may be, nor sit above."""
    root = repo_root()
    own = ["notebooks", "src", "tests", "data", "data/models", "data/saes", "data/sweeps"]
    own += ["docs", "js", "benchmarks", ".git", ".venv"]
    paths = [Path("/"), Path.home(), Path.cwd(), root, *(root / p for p in own), *protect]
    return [p.resolve() for p in paths]


def check_never(folder: str | Path, *, protect: Collection[Path] = ()) -> Path:
    """``folder`` resolved, after refusing the folders no output may replace (step 1)."""
    target = Path(folder).expanduser().resolve()
    for path in _never_paths(protect):
        if target == path or target in path.parents:
            what = "is" if target == path else "holds"
            raise OutputFolderError(
                f"Refusing to write the output folder {str(folder)!r}: it {what} {path}, which "
                "the workbench never replaces (the repository, its folders, your home, the "
                "working directory or the inputs). Choose a new folder, e.g. 'site' or "
                "'runs/NAME'."
            )
    if Path(folder).is_symlink():
        raise OutputFolderError(
            f"The output folder {str(folder)!r} is a link: give the folder it points to "
            f"({target}) or a new one."
        )
    if target.exists() and not target.is_dir():
        raise OutputFolderError(f"The output folder {str(folder)!r} is a file: choose a folder.")
    return target


def _files(folder: Path) -> list[str]:
    """Every file under ``folder``, relative, sorted (the marker apart)."""
    found = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())
    return sorted(f for f in found if f != MARKER)


def read_marker(folder: Path) -> dict | None:
    """The marker's record, or None where there is none (or it is not the workbench's)."""
    try:
        record = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("files"), list) else None


def foreign_files(folder: Path, *, recognise: Recognise | None = None) -> list[str]:
    """The files in ``folder`` the workbench did not write (none for a missing folder)."""
    if not folder.exists() or not any(folder.iterdir()):
        return []
    record = read_marker(folder)
    if record is not None:
        return sorted(set(_files(folder)) - set(record["files"]))
    if recognise is not None and recognise(folder):
        return []
    return _files(folder) or sorted(p.name for p in folder.iterdir())


def _listing(files: list[str], limit: int = 5) -> str:
    shown = ", ".join(files[:limit])
    return shown + (f" and {len(files) - limit} more" if len(files) > limit else "")


def check_output_dir(
    folder: str | Path,
    *,
    overwrite: bool = False,
    recognise: Recognise | None = None,
    protect: Collection[Path] = (),
    flag: str = "--overwrite",
    recognised: str = "",
) -> Path:
    """``folder`` resolved, after checking the workbench may write it (steps 1 and 2).

    ``flag``: how the caller's user says ``overwrite``; ``recognised``: a sentence on which
    older folders without the marker count as the workbench's (for the error).
    """
    target = check_never(folder, protect=protect)
    foreign = foreign_files(target, recognise=recognise)
    if foreign and not overwrite:
        raise OutputFolderError(
            f"The output folder {str(folder)!r} ({target}) holds files the workbench did not "
            f"write: {_listing(foreign)}. Nothing was changed. Choose another folder, or give "
            f"{flag} to replace it and everything in it.{' ' + recognised if recognised else ''}"
        )
    return target


@contextmanager
def output_dir(
    folder: str | Path,
    *,
    writer: str,
    overwrite: bool = False,
    recognise: Recognise | None = None,
    protect: Collection[Path] = (),
    flag: str = "--overwrite",
    recognised: str = "",
) -> Iterator[Path]:
    """Yield a fresh temporary folder to write into; on success swap it in as ``folder``
    (see the module doc); on an error delete it and leave ``folder`` as it was.

    ``writer``: what writes it (e.g. ``"workbench render"``), recorded in the marker.
    """
    kwargs = {"recognise": recognise, "protect": protect, "flag": flag, "recognised": recognised}
    target = check_output_dir(folder, overwrite=overwrite, **kwargs)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial"))
    try:
        yield tmp
        record = {
            "written_by": writer,
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": _files(tmp),
        }
        (tmp / MARKER).write_text(json.dumps(record, indent=1) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes an owner-only folder
        _swap(tmp, target, overwrite=overwrite, recognise=recognise)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap(tmp: Path, target: Path, *, overwrite: bool, recognise: Recognise | None) -> None:
    aside = None
    if target.exists():
        aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
        aside.rmdir()  # a unique free name
        target.rename(aside)
    try:
        tmp.rename(target)
    except BaseException:
        if aside is not None:
            aside.rename(target)
        raise
    if aside is None:
        return
    foreign = foreign_files(aside, recognise=recognise)
    if foreign and not overwrite:  # files added while it was being written: keep them
        kept = target.with_name(f"{target.name}.kept-{time.strftime('%Y%m%d-%H%M%S')}")
        aside.rename(kept)
        warnings.warn(
            f"The previous {target} held files the workbench did not write "
            f"({_listing(foreign)}): it was kept as {kept}, not deleted.",
            KeptFolderWarning,
            stacklevel=4,
        )
    else:
        shutil.rmtree(aside)


def remove_output(
    folder: str | Path, *, owned: Recognise | None = None, what: str = "folder"
) -> bool:
    """Delete ``folder`` if the workbench wrote it (``owned`` decides, else the marker);
    refuse (``OutputFolderError``) if it did not; False if there was nothing to delete."""
    path = Path(folder)
    if not path.exists():
        return False
    target = check_never(path)
    if foreign_files(target, recognise=owned):
        raise OutputFolderError(
            f"Not deleting the {what} {str(folder)!r}: the workbench did not write it "
            f"({_listing(_files(target))}). Move it away or choose another output folder."
        )
    shutil.rmtree(target)
    return True


def plain_name(name: str, *, what: str = "name") -> str:
    """``name`` if it is a plain folder name (letters, digits, ``.``, ``_``, ``-``; not
    starting with a dot): no ``/``, no ``..``, nothing that leaves the parent folder."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or ".." in name:
        raise OutputFolderError(
            f"{what} {name!r} is not a plain name: use letters, digits, '.', '_' and '-' only "
            "(no '/', no '..'), e.g. 'othello-gpt-small'."
        )
    return name
