import pytest
import torch

from workbench.monitors import (
    MahalanobisConfig,
    MonitorInputError,
    ProbeMonitorConfig,
    fit_mahalanobis,
    fit_monitor,
)

from helpers import identity_sae

HOOK = "blocks.1.hook_resid_post"


def test_unsupervised_kinds_fit_on_the_negatives_only():
    x, y = torch.randn(60, 4), torch.arange(60) < 20
    via_labels = fit_monitor("mahalanobis", x, y, hook=HOOK)
    direct = fit_mahalanobis(x[~y], hook=HOOK)
    assert via_labels.n_fit == {"pos": 0, "neg": 40}
    assert torch.equal(via_labels.precision, direct.precision)
    rare = fit_monitor("sae-rare", x, y, sae=identity_sae(4, HOOK))
    assert rare.n_fit == {"pos": 0, "neg": 40} and rare.hook == HOOK


def test_missing_arguments_are_named():
    x, y = torch.randn(10, 4), torch.arange(10) < 5
    with pytest.raises(MonitorInputError, match="supervised: pass labels y"):
        fit_monitor("sae-sparse", x, sae=identity_sae(4, HOOK))
    with pytest.raises(MonitorInputError, match="pass sae="):
        fit_monitor("sae-error", x)
    with pytest.raises(MonitorInputError, match="hook="):
        fit_monitor("probe", x, y)
    with pytest.raises(TypeError, match="takes ProbeMonitorConfig, got MahalanobisConfig"):
        fit_monitor("probe", x, y, hook=HOOK, config=MahalanobisConfig())
    with pytest.raises(TypeError, match="mean-diff monitor takes no config"):
        fit_monitor("mean-diff", x, y, hook=HOOK, config=ProbeMonitorConfig())
