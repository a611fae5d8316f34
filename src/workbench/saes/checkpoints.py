"""Checkpoints of an SAE training run, so that a stopped run resumes where it was.

sae-lens's trainer writes its state into ``folder/<activations seen>/`` (weights, optimiser,
learning-rate and coefficient schedules, dead-feature counts, the input scale). This module
adds what a resume needs beyond that, and makes the set safe to read after a crash:

- ``run.json``: the run's settings. Resuming under other settings is refused: the result
  would be neither run.
- ``progress.json`` in each checkpoint: activations and steps done, training seconds so far,
  and where earlier resumes started.
- ``latest.json``: the newest complete checkpoint. It is written (atomically) only after the
  checkpoint is whole, so one cut short is never read; older checkpoints are then deleted.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.models.io import write_json


@dataclass(frozen=True)
class Progress:
    """How far a run had got when a checkpoint was written."""

    samples: int = 0  # activations trained on
    steps: int = 0  # optimiser steps taken
    seconds: float = 0.0  # training time, summed over every resume
    resumed_at: tuple[int, ...] = ()  # ``samples`` at each earlier resume

    @classmethod
    def from_dict(cls, data: dict) -> Progress:
        return cls(**{**data, "resumed_at": tuple(data.get("resumed_at", ()))})


class SAECheckpoints:
    """The checkpoint folder of one training run (see module doc)."""

    def __init__(self, folder: str | Path, settings: dict) -> None:
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(settings))  # as JSON reads it back (tuples: lists)

    def claim(self) -> None:
        """Record this run's settings, or check them against the run already here."""
        record = self.folder / "run.json"
        if not record.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            write_json(record, self.settings)
            return
        saved = json.loads(record.read_text())
        if saved != self.settings:
            keys = sorted(set(saved) | set(self.settings))
            diff = {k: (saved.get(k), self.settings.get(k)) for k in keys}
            diff = {k: v for k, v in diff.items() if v[0] != v[1]}
            raise ValueError(
                f"{self.folder} holds checkpoints of a run with other settings (saved, now): "
                f"{diff}. Resume with the same settings, or delete that folder to start again."
            )

    def latest(self) -> tuple[Path, Progress] | None:
        """The newest complete checkpoint and its progress, or None to start afresh."""
        pointer = self.folder / "latest.json"
        if not pointer.exists():
            return None
        checkpoint = self.folder / json.loads(pointer.read_text())["checkpoint"]
        return checkpoint, Progress.from_dict(
            json.loads((checkpoint / "progress.json").read_text())
        )

    def commit(self, checkpoint: Path, progress: Progress) -> None:
        """Mark ``checkpoint`` (fully written) the one to resume from; drop the others."""
        write_json(checkpoint / "progress.json", asdict(progress))
        write_json(self.folder / "latest.json", {"checkpoint": checkpoint.name})
        for old in self.folder.iterdir():
            if old.is_dir() and old != checkpoint:
                shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        """Delete the folder: the run is finished and its SAE stored, or is to start again."""
        shutil.rmtree(self.folder, ignore_errors=True)
