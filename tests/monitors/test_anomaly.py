import numpy as np
import pytest
import torch

from workbench.monitors import MahalanobisConfig, auroc, fit_mahalanobis, ledoit_wolf_shrinkage

HOOK = "blocks.1.hook_resid_post"


def correlated(n: int, d: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=gen) / d**0.5
    return torch.randn(n, d, generator=gen) @ mix + torch.randn(d, generator=gen)


def test_ledoit_wolf_matches_sklearn():
    covariance = pytest.importorskip("sklearn.covariance")
    x = correlated(40, 12).double()
    assert ledoit_wolf_shrinkage(x - x.mean(0)) == pytest.approx(
        covariance.ledoit_wolf_shrinkage(x.numpy()), rel=1e-9
    )
    monitor = fit_mahalanobis(x.float(), hook=HOOK)
    ref = covariance.LedoitWolf().fit(x.float().double().numpy())
    assert monitor.shrinkage_used == pytest.approx(ref.shrinkage_, rel=1e-6)
    assert np.allclose(monitor.precision.numpy(), ref.precision_, rtol=1e-4, atol=1e-6)


def test_score_is_the_squared_distance():
    x = correlated(200, 5)
    full = fit_mahalanobis(x, hook=HOOK, config=MahalanobisConfig(shrinkage=1.0))
    scale = float(torch.trace(torch.cov(x.T.double(), correction=0))) / 5
    probe_x = torch.randn(7, 5)
    expected = ((probe_x.double() - x.double().mean(0)) ** 2).sum(-1) / scale
    assert torch.allclose(full.score(probe_x).double(), expected, rtol=1e-5)
    none = fit_mahalanobis(x, hook=HOOK, config=MahalanobisConfig(shrinkage=0.0))
    cov = torch.cov(x.T.double(), correction=0)
    z = probe_x.double() - x.double().mean(0)
    expected = torch.einsum("nd,de,ne->n", z, torch.linalg.inv(cov), z)
    assert torch.allclose(none.score(probe_x).double(), expected, rtol=1e-4)


def test_flags_shifted_positives_like_the_true_distance(planted):
    x, y, _ = planted(2000, 2000, 8, 4.0, seed=0)
    monitor = fit_mahalanobis(x[~y][:1000], hook=HOOK)  # fitted on clean rows only
    assert monitor.n_fit == {"pos": 0, "neg": 1000}
    fitted = auroc(monitor.score(x), y)
    ideal = auroc(x.pow(2).sum(-1), y)  # the distance under the true N(0, I)
    assert fitted > 0.85 and fitted == pytest.approx(ideal, abs=0.02)


def test_bad_shrinkage_and_constant_data_are_refused():
    with pytest.raises(ValueError, match=r"shrinkage must be in \[0, 1\]"):
        fit_mahalanobis(torch.randn(10, 3), hook=HOOK, config=MahalanobisConfig(shrinkage=2.0))
    with pytest.raises(ValueError, match="identical"):
        fit_mahalanobis(torch.ones(10, 3), hook=HOOK)
