"""The checkpoints of a long run, kept so that a stopped run resumes where it was.

Both long jobs use it: the model trainer (``training.train``) and the SAE trainer
(``saes.train``). A run folder holds:

- a settings file (the run's config). Resuming under other settings is refused, naming what
  differs: the result would be neither run. Settings that only say how it runs (threads, how
  often to evaluate, where the folder is) may change; paths are compared resolved.
- checkpoint folders, each with a ``state.json`` of the run's progress.
- ``latest.json``: the newest complete checkpoint and the one before it. It is written
  (atomically) only after the checkpoint is whole, so one cut short by a crash is never
  read; checkpoints older than those two are then deleted. If the newest cannot be read
  (a corrupt ``latest.json``, ``state.json`` or weights), the run resumes from the one
  before, with a warning.
- ``.lock``: held (``flock``) by the process writing the run, with its PID. A second
  writer is refused, naming that PID; the lock of a process that died is taken over,
  with a warning.

A folder that is neither empty nor a run folder is refused: the run would write into it and
delete its subfolders.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import warnings
from collections.abc import Callable, Collection
from functools import partial
from pathlib import Path
from typing import IO

from workbench.files import atomic_write, write_json
from workbench.outputs import OutputFolderError, check_never, foreign_files, remove_output

LOCK = ".lock"
POINTER = "latest.json"


class RunLockedError(OSError):
    """Another process (or another object in this one) is writing the run folder."""


class CheckpointError(ValueError):
    """No checkpoint of a run folder can be read."""


class CheckpointWarning(UserWarning):
    """A run resumed from an older checkpoint, or took over a dead process's lock."""


class CheckpointFolder:
    """One run's folder of checkpoints (see module doc).

    ``settings``: what must match to resume, as a JSON-ready dict, stored in
    ``settings_file``; keys in ``may_change`` are stored but not compared; keys in ``paths``
    are compared as the folders they resolve to.
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
        paths: Collection[str] = (),
        checkpoint_glob: str = "*",
        start_again: str = "delete that folder to start again",
    ) -> None:
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(settings))  # as JSON reads it back (tuples: lists)
        self.settings_file = settings_file
        self.may_change = frozenset(may_change)
        self.paths = frozenset(paths)
        self.checkpoint_glob = checkpoint_glob
        self.start_again = start_again
        self._lock: IO[str] | None = None  # the open, flock'ed lock file while held
        # the checkpoint resumed from or last committed, then the one before it
        self._kept: list[str] = []

    # -- the folder and its lock ------------------------------------------------------
    def is_run(self, folder: Path) -> bool:
        """Whether ``folder`` is a run folder: it holds the settings file (or only a lock)."""
        return _is_run_folder(folder, self.settings_file)

    def claim(self) -> None:
        """Refuse a folder that is no run, take the lock, check the settings against a run
        already here, then record them."""
        check_never(self.folder)
        foreign = foreign_files(self.folder, recognise=self.is_run)
        if foreign:
            raise OutputFolderError(
                f"The run folder {str(self.folder)!r} holds files that are not a run's "
                f"({', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}): a run would "
                "write into it and delete its subfolders. Choose a new or empty folder."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock()
        try:
            self._check_settings()
            write_json(self.folder / self.settings_file, self.settings)
        except BaseException:
            self.release()
            raise

    def _check_settings(self) -> None:
        record = self.folder / self.settings_file
        if not record.exists():
            return
        try:
            saved = json.loads(record.read_text())
        except ValueError as err:
            raise CheckpointError(
                f"{record} is not valid JSON ({err}): {self.start_again}."
            ) from None
        keys = sorted((set(saved) | set(self.settings)) - self.may_change)
        diff = {k: (saved.get(k), self.settings.get(k)) for k in keys}
        diff = {k: v for k, v in diff.items() if not self._same(k, *v)}
        if diff:
            raise ValueError(
                f"{self.folder} holds a run with other settings (saved, now): {diff}. "
                f"Resume with the same settings, or {self.start_again}."
            )

    def _same(self, key: str, saved, now) -> bool:
        if key in self.paths and isinstance(saved, str) and isinstance(now, str):
            return Path(saved).expanduser().resolve() == Path(now).expanduser().resolve()
        return saved == now

    def lock(self) -> None:
        """Hold the folder's lock (again), or raise ``RunLockedError`` naming its holder."""
        if self._lock is not None:
            return
        handle = open(self.folder / LOCK, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle)
            handle.close()
            raise RunLockedError(_locked_message(self.folder, holder)) from None
        previous = _read_holder(handle)
        if previous.get("pid") not in (None, os.getpid()):
            warnings.warn(
                f"{self.folder}: taking over the lock left by PID {previous['pid']} "
                f"(since {previous.get('since', '?')}), which is no longer running.",
                CheckpointWarning,
                stacklevel=3,
            )
        handle.seek(0)
        handle.truncate()
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
        handle.write(json.dumps(holder) + "\n")
        handle.flush()
        self._lock = handle

    def release(self) -> None:
        """Let another process write the folder (the lock file stays, empty)."""
        handle, self._lock = self._lock, None
        if handle is None:
            return
        handle.seek(0)
        handle.truncate()
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    # -- checkpoints ------------------------------------------------------------------
    def latest(
        self, load: Callable[[Path, dict], object] | None = None
    ) -> tuple[Path, dict] | None:
        """The newest complete checkpoint that reads, and its state; None to start afresh.

        ``load(checkpoint, state)`` reads the checkpoint's own files (weights, optimiser)
        and raises if it cannot; a checkpoint whose ``state.json`` or ``load`` fails is
        passed over for the one before it, with a ``CheckpointWarning`` saying why.
        """
        names, problems = self._candidates()
        for name in names:
            checkpoint = self.folder / name
            try:
                state = json.loads((checkpoint / "state.json").read_text())
                if load is not None:
                    load(checkpoint, state)
            except Exception as err:  # noqa: BLE001 - any unreadable file: try the older one
                problems.append(f"{name}: {type(err).__name__}: {err}")
                continue
            if problems:
                warnings.warn(
                    f"{self.folder}: resuming from the checkpoint {name}, as a newer record "
                    f"could not be read ({'; '.join(problems)}).",
                    CheckpointWarning,
                    stacklevel=2,
                )
            self._kept = [name]
            return checkpoint, state
        if problems:
            raise CheckpointError(
                f"No checkpoint in {self.folder} can be read ({'; '.join(problems)}): "
                f"{self.start_again}."
            )
        return None

    def _candidates(self) -> tuple[list[str], list[str]]:
        """The checkpoints to try, newest first, and what was wrong with the pointer."""
        pointer = self.folder / POINTER
        if not pointer.exists():
            return [], []
        try:
            record = json.loads(pointer.read_text())
            names = [record["checkpoint"]] + (
                [record["previous"]] if record.get("previous") else []
            )
            if not all(isinstance(n, str) and n == Path(n).name for n in names):
                raise ValueError(f"not checkpoint names: {names}")
            return names, []
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            # the complete checkpoints (state.json is written last), newest first
            whole = [p / "state.json" for p in self.folder.glob(self.checkpoint_glob)]
            whole = sorted((s for s in whole if s.is_file()), key=lambda s: -s.stat().st_mtime_ns)
            return [s.parent.name for s in whole], [f"{POINTER}: {type(err).__name__}: {err}"]

    def commit(self, checkpoint: Path, state: dict) -> None:
        """Record ``state`` in ``checkpoint`` (otherwise fully written), make it the one to
        resume from, and delete the checkpoints older than the one before it."""
        write_json(checkpoint / "state.json", state)
        if not self._kept:  # committed without resuming first: what the pointer names
            self._kept = self._candidates()[0][:1]
        if self._kept[:1] != [checkpoint.name]:
            self._kept = [checkpoint.name, *self._kept[:1]]
        record = dict(zip(("checkpoint", "previous"), self._kept, strict=False))
        write_json(self.folder / POINTER, record)
        for old in self.folder.glob(self.checkpoint_glob):
            if old.is_dir() and old.name not in self._kept:
                shutil.rmtree(old, ignore_errors=True)


def keep_records_until(path: Path, step: int) -> None:
    """Drop the records of a JSON-lines log past ``step`` (and any line cut short): those a
    run resumed from its checkpoint at ``step`` logs again."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if _record_step(line) <= step]
    if kept != lines:
        atomic_write(path, lambda p: p.write_text("".join(line + "\n" for line in kept)))


def _record_step(line: str) -> float:
    try:
        record = json.loads(line)
        return record.get("step", 0) if isinstance(record, dict) else float("inf")
    except ValueError:
        return float("inf")  # a line cut short by a kill


def remove_run_folder(folder: str | Path, *, settings_file: str = "run.json") -> bool:
    """Delete a run folder (e.g. an SAE's checkpoints once the SAE is saved), only if it is
    one: a folder without the settings file is refused (``workbench.outputs``)."""
    owned = partial(_is_run_folder, settings_file=settings_file)
    return remove_output(folder, owned=owned, what="checkpoint folder")


def _is_run_folder(folder: Path, settings_file: str) -> bool:
    return (folder / settings_file).is_file() or {p.name for p in folder.iterdir()} <= {LOCK}


def _read_holder(handle: IO[str]) -> dict:
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _locked_message(folder: Path, holder: dict) -> str:
    pid = holder.get("pid", "?")
    host = holder.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    since = f", since {holder['since']}" if "since" in holder else ""
    if pid == os.getpid():
        return (
            f"{folder} is in use by this process (PID {pid}{since}): another trainer on that "
            "folder has not finished. Let it finish (or delete it) first, or choose another "
            "folder."
        )
    return (
        f"{folder} is in use by another run (PID {pid}{where}{since}). Wait for it to finish, "
        f"stop it (kill {pid}), or choose another folder."
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
