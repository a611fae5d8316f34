"""Shared file I/O: atomic writes and JSON records, used by every module that saves.

The bottom layer of the package: it imports nothing from the workbench but ``paths``, so
any module may use it without an import cycle (``models.io`` re-exports these names).

1. ``atomic_write(path, write)``: ``write`` fills a temporary file beside ``path``, which
   is then renamed onto it, so a reader never sees half a file.
2. ``read_json`` / ``write_json``: one JSON object per file; a missing, unreadable or
   corrupt file raises the caller's error class naming the file and what is wrong.
3. ``shown_path``: a path as records write it (``data/...``, relative to the clone),
   naming no machine.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from workbench import paths


class JSONFileError(ValueError):
    """A JSON record is missing, unreadable, corrupt or not a JSON object."""


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_json(path: Path, *, error: type[Exception] = JSONFileError, what: str = "File") -> dict:
    """The JSON object in ``path``; a missing, unreadable or corrupt file (or one holding
    something other than an object) raises ``error`` naming the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise error(f"{what} {path} does not exist.") from err
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{what} {path} could not be read: {err}") from err
    except json.JSONDecodeError as err:
        raise error(
            f"{what} {path} is not valid JSON (corrupted or cut short?): {err.msg} at line "
            f"{err.lineno}, column {err.colno}."
        ) from err
    if not isinstance(data, dict):
        raise error(f"{what} {path} should hold a JSON object, not {type(data).__name__}.")
    return data


def write_json(path: Path, data: dict) -> None:
    """``data`` as indented JSON in ``path``, written atomically."""
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when inside it (``data/...`` when inside the data
    folder, wherever that is), for records that name no machine."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(paths.CLONE_ROOT))
    except ValueError:
        pass
    try:
        return str("data" / resolved.relative_to(paths.data_dir()))
    except (ValueError, paths.DataDirError):
        return str(path)
