import math

import pytest
import torch

from workbench.monitors import (
    MonitorInputError,
    SAEErrorConfig,
    fit_sae_rare,
    load_monitor,
    sae_error_monitor,
    sae_identity,
)
from workbench.saes.loading import SAEMismatchError

from helpers import identity_sae

D = 8
HOOK = "blocks.1.hook_resid_post"


def lossy_sae():
    """The identity SAE with dimension 0's two features decoding to nothing:
    its reconstruction error is exactly x[..., 0] ** 2."""
    sae = identity_sae(D, HOOK)
    with torch.no_grad():
        sae.W_dec[0].zero_()
        sae.W_dec[D].zero_()
    return sae


def test_error_is_the_lost_energy():
    x = torch.randn(3, 5, D)
    exact = sae_error_monitor(identity_sae(D, HOOK), source="identity")
    assert exact.hook == HOOK and exact.d_model == D and exact.sae_info["source"] == "identity"
    assert torch.allclose(exact.score(x), torch.zeros(3, 5), atol=1e-10)
    lossy = sae_error_monitor(lossy_sae())
    assert torch.allclose(lossy.score(x), x[..., 0] ** 2)
    share = sae_error_monitor(lossy_sae(), config=SAEErrorConfig(normalise=True))
    assert torch.allclose(share.score(x), x[..., 0] ** 2 / x.pow(2).sum(-1))


def test_rare_scores_the_surprise_of_the_active_features():
    x = torch.randn(400, D)
    x[:, 0] = x[:, 0].abs() + 0.1  # on clean rows dimension 0 is always positive
    monitor = fit_sae_rare(x, identity_sae(D, HOOK))
    assert monitor.n_fit == {"pos": 0, "neg": 400}
    # Reference: the identity SAE's features are relu(x_i) (feature i) and relu(-x_i) (D + i).
    freq = [float((x[:, i] > 0).float().mean()) for i in range(D)]
    freq += [float((x[:, i] < 0).float().mean()) for i in range(D)]
    assert freq[D] == 0.0 and torch.allclose(monitor.frequency, torch.tensor(freq))
    test = torch.randn(20, D)
    expected = [
        sum(-math.log(freq[i] + 1 / 400) for i in range(D) if row[i] > 0)
        + sum(-math.log(freq[D + i] + 1 / 400) for i in range(D) if row[i] < 0)
        for row in test.tolist()
    ]
    assert torch.allclose(monitor.score(test), torch.tensor(expected), atol=1e-4)
    flipped = test.clone()
    flipped[:, 0] = -test[:, 0].abs()  # uses feature D, never seen on clean rows
    test[:, 0] = test[:, 0].abs()
    assert bool((monitor.score(flipped) > monitor.score(test) + math.log(400) - 1).all())


def test_hook_and_width_are_checked():
    sae = identity_sae(D, HOOK)
    with pytest.raises(SAEMismatchError, match=f"trained on {HOOK}, not on blocks.0"):
        sae_error_monitor(sae, hook="blocks.0.hook_resid_post")
    monitor = sae_error_monitor(sae)
    with pytest.raises(MonitorInputError, match=f"reads {HOOK} with d_model=8.*width 9"):
        monitor.score(torch.randn(4, 9))
    with pytest.raises(MonitorInputError, match="width 9"):
        fit_sae_rare(torch.randn(4, 9), sae)


def test_loading_needs_the_same_sae(tmp_path):
    monitor = fit_sae_rare(torch.randn(50, D), identity_sae(D, HOOK), source="data/saes/x")
    monitor.save(tmp_path)
    with pytest.raises(MonitorInputError, match="source 'data/saes/x'.*sae=sae"):
        load_monitor(tmp_path)
    with pytest.raises(SAEMismatchError, match="d_in=8, d_sae=16.*d_in=4, d_sae=8"):
        load_monitor(tmp_path, sae=identity_sae(4, HOOK))
    with pytest.raises(SAEMismatchError, match="other weights"):
        load_monitor(tmp_path, sae=lossy_sae())
    again = load_monitor(tmp_path, sae=identity_sae(D, HOOK))
    assert again.sae_info == sae_identity(identity_sae(D, HOOK), "data/saes/x")
