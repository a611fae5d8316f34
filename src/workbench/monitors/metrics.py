"""How well a monitor separates positives from negatives, and the table of results.

``auroc`` is exact: the Mann-Whitney rank statistic, ``U / (n_pos * n_neg)``, with tied
scores given their mean rank (so a positive-negative tie counts one half). ``roc_curve``
gives one point per distinct score, from the top. A ``MonitorTable`` holds one row per
(monitor, hook, position, seed), saves to JSON, and summarises the spread over seeds.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from workbench.models.io import write_json
from workbench.monitors.base import Monitor, MonitorFileError


def _prepare(scores, labels) -> tuple[Tensor, Tensor]:
    """Flattened float64 scores and bool labels on the CPU, checked."""
    s = torch.as_tensor(scores).detach().cpu().double().flatten()
    y = torch.as_tensor(labels).detach().cpu().bool().flatten()
    if s.shape != y.shape:
        raise ValueError(f"{s.numel()} scores but {y.numel()} labels.")
    if torch.isnan(s).any():
        raise ValueError(f"{int(torch.isnan(s).sum())} scores are NaN.")
    n_pos = int(y.sum())
    if n_pos in (0, len(y)):
        raise ValueError(
            f"AUROC and ROC need both classes, got n_pos={n_pos}, n_neg={len(y) - n_pos}."
        )
    return s, y


def auroc(scores: Float[Tensor, "..."], labels: Bool[Tensor, "..."]) -> float:
    """P(score of a random positive > that of a random negative) + P(tie) / 2, exactly."""
    s, y = _prepare(scores, labels)
    _, inverse, counts = torch.unique(s, return_inverse=True, return_counts=True)
    midrank = counts.cumsum(0).double() - (counts.double() - 1) / 2  # 1-based mean rank
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    u = midrank[inverse][y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def roc_curve(
    scores: Float[Tensor, "..."], labels: Bool[Tensor, "..."]
) -> tuple[Float[Tensor, " k"], Float[Tensor, " k"], Float[Tensor, " k"]]:
    """(false positive rate, true positive rate, threshold), flagging ``score >= threshold``;
    thresholds run from +inf (nothing flagged) down through every distinct score."""
    s, y = _prepare(scores, labels)
    values, inverse = torch.unique(s, return_inverse=True)  # ascending
    pos = torch.bincount(inverse[y], minlength=len(values)).flip(0).double()
    neg = torch.bincount(inverse[~y], minlength=len(values)).flip(0).double()
    zero = torch.zeros(1, dtype=torch.float64)
    tpr = torch.cat([zero, pos.cumsum(0) / pos.sum()])
    fpr = torch.cat([zero, neg.cumsum(0) / neg.sum()])
    thresholds = torch.cat([torch.tensor([math.inf], dtype=torch.float64), values.flip(0)])
    return fpr, tpr, thresholds


@dataclass(frozen=True)
class MonitorScore:
    monitor: str  # the kind, or the caller's name for it (e.g. "probe (base-model mistakes)")
    hook: str  # the site it reads
    position: str  # which positions were scored (e.g. "t=2", "trigger+1", "all before defect")
    seed: int  # of the monitor's own fitting (its data split, its start)
    auroc: float
    n_pos: int  # inputs behind the figure
    n_neg: int


def evaluate(
    monitor: Monitor,
    x: Float[Tensor, "... d_model"],
    labels: Bool[Tensor, "..."],
    *,
    position: str,
    seed: int,
    name: str | None = None,
) -> MonitorScore:
    """Score ``x`` with ``monitor`` and return its AUROC against ``labels`` as a table row."""
    scores = monitor.score(x)
    y = torch.as_tensor(labels).bool()
    return MonitorScore(
        monitor=name or monitor.kind,
        hook=monitor.hook,
        position=position,
        seed=seed,
        auroc=auroc(scores, y),
        n_pos=int(y.sum()),
        n_neg=int((~y).sum()),
    )


@dataclass(frozen=True)
class ScoreSummary:
    monitor: str
    hook: str
    position: str
    n_seeds: int
    mean: float  # of the AUROC over seeds
    std: float  # sample standard deviation over seeds (NaN with one seed)
    min: float
    max: float
    n_pos: int  # fewest inputs behind any seed's figure
    n_neg: int


@dataclass
class MonitorTable:
    rows: list[MonitorScore] = field(default_factory=list)
    notes: dict = field(default_factory=dict)  # e.g. the command that made it, timings

    def add(self, row: MonitorScore) -> None:
        self.rows.append(row)

    def summary(self) -> list[ScoreSummary]:
        """One line per (monitor, hook, position), in the order they first appear."""
        groups: dict[tuple[str, str, str], list[MonitorScore]] = {}
        for r in self.rows:
            groups.setdefault((r.monitor, r.hook, r.position), []).append(r)
        out = []
        for (monitor, hook, position), rows in groups.items():
            a = torch.tensor([r.auroc for r in rows], dtype=torch.float64)
            std = float(a.std()) if len(a) > 1 else math.nan
            out.append(
                ScoreSummary(
                    monitor,
                    hook,
                    position,
                    len(rows),
                    float(a.mean()),
                    std,
                    float(a.min()),
                    float(a.max()),
                    min(r.n_pos for r in rows),
                    min(r.n_neg for r in rows),
                )
            )
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_json(path, {"rows": [asdict(r) for r in self.rows], "notes": self.notes})
        return path

    @classmethod
    def load(cls, path: str | Path) -> MonitorTable:
        path = Path(path)
        if not path.exists():
            raise MonitorFileError(f"Monitor table {path} does not exist.")
        try:
            raw = json.loads(path.read_text())
            names = {f.name for f in fields(MonitorScore)}
            rows = []
            for r in raw["rows"]:
                if set(r) != names:
                    raise KeyError(f"a row has keys {sorted(r)}, expected {sorted(names)}")
                rows.append(MonitorScore(**r))
            return cls(rows=rows, notes=raw.get("notes", {}))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
            raise MonitorFileError(f"{path} is not a monitor table (corrupted?): {err}") from err
