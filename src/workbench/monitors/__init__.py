"""White-box monitors: small objects fitted on activations that score positions, higher =
"the model is about to do something bad", saved and loaded like probes.

Model-agnostic: every function takes activation tensors (``... d_model``) of one hook; which
model, positions and inputs they come from is the caller's business.

Kinds (``MonitorKind``): ``probe`` (supervised logistic regression), ``mean-diff`` (the
difference-of-means contrast direction), ``mahalanobis`` (anomaly score fitted on clean
activations), ``sae-error`` (SAE reconstruction error), ``sae-rare`` (how rare the SAE
features in use are on clean activations), ``sae-sparse`` (a classifier over a few SAE
features). ``metrics`` scores them: exact AUROC, ROC curves, a table over seeds.
"""

from workbench.monitors.anomaly import (
    MahalanobisConfig,
    MahalanobisMonitor,
    fit_mahalanobis,
    ledoit_wolf_shrinkage,
)
from workbench.monitors.base import (
    MONITOR_KINDS,
    Monitor,
    MonitorFileError,
    MonitorInputError,
    MonitorKind,
    load_monitor,
)
from workbench.monitors.fit import fit_monitor
from workbench.monitors.linear import (
    MeanDiffMonitor,
    ProbeMonitor,
    ProbeMonitorConfig,
    fit_contrast,
    fit_probe_monitor,
)
from workbench.monitors.metrics import (
    MonitorScore,
    MonitorTable,
    ScoreSummary,
    auroc,
    evaluate,
    roc_curve,
)
from workbench.monitors.sae import (
    SAEErrorConfig,
    SAEErrorMonitor,
    SAERareConfig,
    SAERareMonitor,
    fit_sae_rare,
    sae_error_monitor,
    sae_identity,
)
from workbench.monitors.sae_sparse import SAESparseConfig, SAESparseMonitor, fit_sae_sparse

__all__ = [
    "MONITOR_KINDS",
    "MahalanobisConfig",
    "MahalanobisMonitor",
    "MeanDiffMonitor",
    "Monitor",
    "MonitorFileError",
    "MonitorInputError",
    "MonitorKind",
    "MonitorScore",
    "MonitorTable",
    "ProbeMonitor",
    "ProbeMonitorConfig",
    "SAEErrorConfig",
    "SAEErrorMonitor",
    "SAERareConfig",
    "SAERareMonitor",
    "SAESparseConfig",
    "SAESparseMonitor",
    "ScoreSummary",
    "auroc",
    "evaluate",
    "fit_contrast",
    "fit_mahalanobis",
    "fit_monitor",
    "fit_probe_monitor",
    "fit_sae_rare",
    "fit_sae_sparse",
    "ledoit_wolf_shrinkage",
    "load_monitor",
    "roc_curve",
    "sae_error_monitor",
    "sae_identity",
]
