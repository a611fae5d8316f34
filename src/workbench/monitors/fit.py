"""One entry point for every kind, from one labelled set of activations.

``fit_monitor(kind, x, y, ...)``: the supervised kinds (``probe``, ``sae-sparse``) fit on
both classes; ``mean-diff`` takes its positives and negatives from ``y``; the unsupervised
kinds (``mahalanobis``, ``sae-rare``) fit on the negatives only (all of ``x`` when ``y`` is
None), never seeing a positive; ``sae-error`` fits nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jaxtyping import Bool, Float
from torch import Tensor

from workbench.monitors.anomaly import MahalanobisConfig, fit_mahalanobis
from workbench.monitors.base import (
    SAE_KINDS,
    SUPERVISED_KINDS,
    Monitor,
    MonitorInputError,
    MonitorKind,
    check_kind,
    check_labelled,
)
from workbench.monitors.linear import ProbeMonitorConfig, fit_contrast, fit_probe_monitor
from workbench.monitors.sae import (
    SAEErrorConfig,
    SAERareConfig,
    fit_sae_rare,
    sae_error_monitor,
)
from workbench.monitors.sae_sparse import SAESparseConfig, fit_sae_sparse

if TYPE_CHECKING:
    from sae_lens import SAE

CONFIGS = {
    "probe": ProbeMonitorConfig,
    "mahalanobis": MahalanobisConfig,
    "sae-error": SAEErrorConfig,
    "sae-rare": SAERareConfig,
    "sae-sparse": SAESparseConfig,
}  # mean-diff has no options
MonitorConfig = (
    ProbeMonitorConfig | MahalanobisConfig | SAEErrorConfig | SAERareConfig | SAESparseConfig
)


def fit_monitor(
    kind: MonitorKind,
    x: Float[Tensor, "n d_model"],
    y: Bool[Tensor, " n"] | None = None,
    *,
    hook: str | None = None,
    config: MonitorConfig | None = None,
    sae: SAE | None = None,
    sae_source: str | None = None,
    notes: str = "",
) -> Monitor:
    """Fit a monitor of ``kind`` on ``x`` (``y`` True = about to misbehave).

    ``config``: that kind's config dataclass (its defaults when None). ``sae`` is needed by
    the ``sae-*`` kinds, ``sae_source`` says where it came from (kept in the JSON); ``hook``
    defaults to the SAE's hook for them and is required for the others.
    """
    check_kind(kind)
    if kind in SUPERVISED_KINDS and y is None:
        raise MonitorInputError(f"The {kind} monitor is supervised: pass labels y.")
    if kind in SAE_KINDS and sae is None:
        raise MonitorInputError(f"The {kind} monitor reads SAE features: pass sae=.")
    if kind not in SAE_KINDS and hook is None:
        raise MonitorInputError(f"Say which site the activations come from: hook= ({kind}).")
    expected = CONFIGS.get(kind)
    if config is not None and (expected is None or not isinstance(config, expected)):
        want = expected.__name__ if expected else "no config"
        raise TypeError(f"The {kind} monitor takes {want}, got {type(config).__name__}.")
    config = config if config is not None else (expected() if expected else None)
    check_labelled(x, y, need_both=kind in SUPERVISED_KINDS)
    clean = x if y is None else x[~y.bool()]
    sae_kw = {"hook": hook, "config": config, "source": sae_source, "notes": notes}
    if kind == "probe":
        return fit_probe_monitor(x, y, hook=hook, config=config, notes=notes)
    if kind == "mean-diff":
        return fit_contrast(x[y.bool()], x[~y.bool()], hook=hook, notes=notes)
    if kind == "mahalanobis":
        return fit_mahalanobis(clean, hook=hook, config=config, notes=notes)
    if kind == "sae-error":
        return sae_error_monitor(sae, **sae_kw)
    if kind == "sae-rare":
        return fit_sae_rare(clean, sae, **sae_kw)
    return fit_sae_sparse(x, y, sae, **sae_kw)
