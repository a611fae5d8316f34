"""What a circuit's validation found: ablations against the graph's predictions, as data
classes that save and load (JSON, through ``to_dict`` / ``from_dict``).

``graph.validate`` returns a ``Validation`` (one row per ablated node);
``attribution_graph.validate_attribution_graph`` an ``AttributionValidation`` (the logit's
``Agreement`` and the kept downstream features'). Each also reads as the dict it used to be
(``check["sign_agreement"]``, ``tc_check["logit"]["n"]``), so older notebooks still run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch


class _ReadsAsDict:
    """``result[key]`` is ``result.key``: the results were dicts before they were data."""

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        return list(self.__dataclass_fields__)  # type: ignore[attr-defined]


@dataclass
class Agreement(_ReadsAsDict):
    """Predicted against actual ablation effects: how often their signs agree, and their
    correlation (NaN under three pairs)."""

    n: int  # pairs compared
    sign_agreement: float  # fraction with the same sign (NaN when n == 0)
    correlation: float  # Pearson's r (NaN when n < 3)

    @classmethod
    def of(cls, rows: list[dict]) -> Agreement:
        """Of rows with ``predicted`` and ``actual`` effects."""
        if not rows:
            return cls(n=0, sign_agreement=float("nan"), correlation=float("nan"))
        pred = torch.tensor([r["predicted"] for r in rows])
        act = torch.tensor([r["actual"] for r in rows])
        agree = float(((pred * act) > 0).float().mean())
        stacked = torch.stack([pred, act])
        corr = float(torch.corrcoef(stacked)[0, 1]) if len(rows) > 2 else float("nan")
        return cls(n=len(rows), sign_agreement=agree, correlation=corr)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Validation(_ReadsAsDict):
    """``graph.validate``: each of the top nodes ablated in the replacement model."""

    sign_agreement: float  # fraction of rows whose predicted and actual effects agree
    correlation: float  # Pearson's r of predicted and actual (NaN under three rows)
    rows: list[dict] = field(default_factory=list)  # {"node", "predicted", "actual"}

    kind = "sae"  # what FeatureGraph's file records, to load the right class

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Validation:
        return cls(**data)


@dataclass
class AttributionValidation(_ReadsAsDict):
    """``validate_attribution_graph``: the top features ablated in the local replacement
    model, compared on the logit and on each kept downstream feature."""

    logit: Agreement
    features: Agreement
    rows: list[dict] = field(default_factory=list)  # {"node", "predicted", "actual"}
    #: {"source", "target", "predicted", "actual"}: a downstream feature's pre-activation
    feature_rows: list[dict] = field(default_factory=list)

    kind = "transcoder"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AttributionValidation:
        return cls(
            logit=Agreement(**data["logit"]),
            features=Agreement(**data["features"]),
            rows=data["rows"],
            feature_rows=data["feature_rows"],
        )


VALIDATIONS: dict[str, type[Validation] | type[AttributionValidation]] = {
    Validation.kind: Validation,
    AttributionValidation.kind: AttributionValidation,
}
