"""Where the shipped models, probes and SAEs are: the data folder.

The data folder is found, at call time, in this order:

1. an explicit argument (``data_dir("/path/to/data")``, or ``data_dir=`` on a loader);
2. the ``WORKBENCH_DATA`` environment variable (read each call, never set by the package);
3. the clone the package runs from (``src/workbench`` beside ``data/`` and
   ``pyproject.toml``: an editable install, as ``make lab`` and ``make test`` make);
4. otherwise ``DataDirError``, which says how to point at one.

A non-editable install (``pip install .``, a wheel) has no clone beside it: set
``WORKBENCH_DATA`` to a clone's ``data/`` folder (or a copy of it).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "WORKBENCH_DATA"
#: The checkout this module sits in when it runs from source (``src/workbench/paths.py``);
#: for an installed copy it is some folder of the installation, which holds no clone.
CLONE_ROOT = Path(__file__).resolve().parents[2]


class DataDirError(FileNotFoundError):
    """No data folder was given, set or found beside the package."""


def clone_data_dir() -> Path | None:
    """``data/`` of the clone the package runs from, if it runs from one."""
    data = CLONE_ROOT / "data"
    is_clone = (CLONE_ROOT / "pyproject.toml").is_file() and (CLONE_ROOT / "src").is_dir()
    return data if is_clone and data.is_dir() else None


def data_dir(path: str | Path | None = None) -> Path:
    """The data folder: ``path`` if given, else ``$WORKBENCH_DATA``, else the clone's."""
    if path is not None:
        return _existing(Path(path).expanduser(), "data_dir=")
    env = os.environ.get(ENV_VAR)
    if env:
        return _existing(Path(env).expanduser(), f"{ENV_VAR}=")
    found = clone_data_dir()
    if found is None:
        raise DataDirError(
            "The workbench cannot find its data folder (shipped models, probes, SAEs): this "
            f"copy of the package is installed at {CLONE_ROOT}, outside a clone. Point at a "
            f"clone's data/ folder: `export {ENV_VAR}=/path/to/workbench/data` (or pass "
            "data_dir=... to load_model, load_probes, load_sae, load_transcoders)."
        )
    return found


def models_dir(data: str | Path | None = None) -> Path:
    """``data/models``: one folder per shipped model."""
    return data_dir(data) / "models"


def _existing(path: Path, given: str) -> Path:
    if not path.is_dir():
        raise DataDirError(
            f"{given}{str(path)!r} is not a folder: point it at a clone's data/ folder "
            "(the one holding models/, probes/, saes/)."
        )
    return path.resolve()
