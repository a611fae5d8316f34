"""The shipped records of the SAE sweeps that take minutes, read back as tables.

``workbench superposition`` (every width's neurons and residual SAEs, layer by layer) and
``workbench sae-split`` (coverage when a property may take the union of up to m
features) each score dozens of feature sets on held-out games: minutes on a CPU. Their
records sit in ``data/sweeps/`` with the command that made them, the date, the number of
games and (for the superposition record) every SAE's weight fingerprint. Notebook 03 reads
them by default and recomputes them live with one switch; ``SweepRecord.describe`` says
which the reader is looking at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench import paths
from workbench.activations import hook_layer
from workbench.files import read_json
from workbench.models.registry import canonical_name

SUPERPOSITION_RECORD = Path("sweeps") / "superposition_by_layer.json"  # under data/


class SweepRecordError(ValueError):
    """A sweep record that is not shipped (or not readable), with the command that makes it."""


@dataclass(frozen=True)
class SweepRecord:
    path: Path
    command: str
    date: str
    games: int
    rows: list[dict]

    def describe(self) -> str:
        """One line: what the rows are and how to make them again."""
        return (
            f"{len(self.rows)} rows on {self.games} held-out games from the shipped record "
            f"{self.path.name} ({self.date}); made by `{self.command}`"
        )


def _read(path: Path, make: str) -> dict:
    if not path.exists():
        raise SweepRecordError(f"No shipped record at {path}; `{make}` makes it.")
    return read_json(path, error=SweepRecordError, what="Sweep record")


def superposition_record(
    models: tuple[str, ...] | list[str], *, data_dir: str | Path | None = None
) -> SweepRecord:
    """The rows of ``workbench superposition`` for ``models`` (names or aliases), in the
    order given: what ``shipped_coverage_by_layer`` returns for each, on the record's
    games. A model the record does not hold is refused, naming the ones it does."""
    path = paths.data_dir(data_dir) / SUPERPOSITION_RECORD
    names = list(dict.fromkeys(canonical_name(m) for m in models))
    data = _read(path, f"workbench superposition {' '.join(names)}")
    held = list(dict.fromkeys(r["model"] for r in data["rows"]))
    missing = [n for n in names if n not in held]
    if missing:
        raise SweepRecordError(
            f"{path} holds no rows for {missing}; it holds {held}. `workbench superposition "
            f"{' '.join(names)}` makes a record with them."
        )
    rows = [r for name in names for r in data["rows"] if r["model"] == name]
    return SweepRecord(path, data["command"], data["date"], int(data["games"]), rows)


def split_record_path(model: str, hook: str, *, data_dir: str | Path | None = None) -> Path:
    """Where the shipped ``workbench sae-split`` record of ``model`` at ``hook`` sits."""
    name = f"sae_split_{canonical_name(model)}_blocks{hook_layer(hook)}.json"
    return paths.data_dir(data_dir) / "sweeps" / name


def split_record(model: str, hook: str, *, data_dir: str | Path | None = None) -> SweepRecord:
    """The rows of ``workbench sae-split MODEL --hook HOOK`` as shipped: one per feature set
    and union size m, as ``split_comparison`` returns them."""
    path = split_record_path(model, hook, data_dir=data_dir)
    make = f"workbench sae-split {canonical_name(model)} --hook {hook} --games 1000 --out {path}"
    data = _read(path, make)
    if f"--hook {hook}" not in data["command"]:
        raise SweepRecordError(f"{path} was made at another site: `{data['command']}`.")
    return SweepRecord(path, data["command"], data["date"], int(data["games"]), data["rows"])
