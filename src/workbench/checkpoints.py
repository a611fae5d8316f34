"""The checkpoints of a long run, kept so that a stopped run resumes where it was.

Both long jobs use it: the model trainer (``training.train``) and the SAE trainer
(``saes.train``). A run folder holds:

- a settings file (the run's config). Resuming under other settings is refused, naming what
  differs: the result would be neither run. Settings that only say how it runs (threads, how
  often to evaluate) may change.
- checkpoint folders, each with a ``state.json`` of the run's progress.
- ``latest.json``: the newest complete checkpoint. It is written (atomically) only after the
  checkpoint is whole, so one cut short by a crash is never read; older ones are then deleted.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Collection
from pathlib import Path

from workbench.models.io import write_json


class CheckpointFolder:
    """One run's folder of checkpoints (see module doc).

    ``settings``: what must match to resume, as a JSON-ready dict, stored in
    ``settings_file``; keys in ``may_change`` are stored but not compared.
    ``checkpoint_glob``: which of the folder's subfolders are checkpoints (others, such as
    a trainer's ``best/`` model, are left alone). ``start_again``: the error's advice on how to
    start afresh instead of resuming.
    """

    def __init__(
        self,
        folder: str | Path,
        settings: dict,
        *,
        settings_file: str = "run.json",
        may_change: Collection[str] = (),
        checkpoint_glob: str = "*",
        start_again: str = "delete that folder to start again",
    ) -> None:
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(settings))  # as JSON reads it back (tuples: lists)
        self.settings_file = settings_file
        self.may_change = frozenset(may_change)
        self.checkpoint_glob = checkpoint_glob
        self.start_again = start_again

    def claim(self) -> None:
        """Check the settings against a run already here, then record them."""
        record = self.folder / self.settings_file
        if record.exists():
            saved = json.loads(record.read_text())
            keys = sorted((set(saved) | set(self.settings)) - self.may_change)
            diff = {k: (saved.get(k), self.settings.get(k)) for k in keys}
            diff = {k: v for k, v in diff.items() if v[0] != v[1]}
            if diff:
                raise ValueError(
                    f"{self.folder} holds a run with other settings (saved, now): {diff}. "
                    f"Resume with the same settings, or {self.start_again}."
                )
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(record, self.settings)

    def latest(self) -> tuple[Path, dict] | None:
        """The newest complete checkpoint and its state, or None to start afresh."""
        pointer = self.folder / "latest.json"
        if not pointer.exists():
            return None
        checkpoint = self.folder / json.loads(pointer.read_text())["checkpoint"]
        return checkpoint, json.loads((checkpoint / "state.json").read_text())

    def commit(self, checkpoint: Path, state: dict) -> None:
        """Record ``state`` in ``checkpoint`` (otherwise fully written), make it the one to
        resume from, and delete the older checkpoints."""
        write_json(checkpoint / "state.json", state)
        write_json(self.folder / "latest.json", {"checkpoint": checkpoint.name})
        for old in self.folder.glob(self.checkpoint_glob):
            if old.is_dir() and old != checkpoint:
                shutil.rmtree(old, ignore_errors=True)
