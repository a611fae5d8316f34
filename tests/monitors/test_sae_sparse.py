import math

import pytest
import torch

from workbench.monitors import SAESparseConfig, auroc, fit_sae_sparse

from helpers import identity_sae

D = 8
HOOK = "blocks.1.hook_resid_post"


def shifted(n: int, delta: float, seed: int):
    """Positives shifted by ``delta`` along dimension 3: the projection's AUROC is
    Phi(delta / sqrt(2)), and x_3 = relu(x_3) - relu(-x_3) is features 3 and D + 3."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * n, D, generator=gen)
    y = torch.arange(2 * n) < n
    x[y, 3] += delta
    return x, y


def test_finds_the_planted_features_and_the_closed_form_auroc():
    x, y = shifted(2000, 2.0, seed=0)
    monitor = fit_sae_sparse(x, y, identity_sae(D, HOOK), config=SAESparseConfig(n_features=2))
    ids, weights = monitor.features()
    assert set(ids.tolist()) == {3, D + 3}
    sign = dict(zip(ids.tolist(), weights.sign().tolist(), strict=True))
    assert sign == {3: 1.0, D + 3: -1.0}  # more of x_3 means positive
    assert monitor.separation[monitor.feature_ids == 3].item() > 0
    xt, yt = shifted(10000, 2.0, seed=1)
    ideal = 0.5 * (1 + math.erf(2.0 / math.sqrt(2) / math.sqrt(2)))
    assert auroc(monitor.score(xt), yt) == pytest.approx(ideal, abs=0.01)


def test_features_are_ordered_by_weight_and_counted():
    x, y = shifted(300, 1.0, seed=0)
    monitor = fit_sae_sparse(x, y, identity_sae(D, HOOK), config=SAESparseConfig(n_features=5))
    ids, weights = monitor.features()
    assert len(ids) == 5 and bool((weights.abs()[:-1] >= weights.abs()[1:]).all())
    assert monitor.n_fit == {"pos": 300, "neg": 300}


def test_bad_config_and_labels_are_refused():
    x, y = shifted(10, 1.0, seed=0)
    with pytest.raises(ValueError, match=r"n_features must be in 1..16"):
        fit_sae_sparse(x, y, identity_sae(D, HOOK), config=SAESparseConfig(n_features=17))
    with pytest.raises(ValueError, match="both classes"):
        fit_sae_sparse(x, torch.ones(20, dtype=torch.bool), identity_sae(D, HOOK))


def test_a_feature_constant_within_each_class_ranks_first():
    x = torch.randn(40, D)
    y = torch.arange(40) < 20
    x[:, 5] = torch.where(y, 1.0, -1.0)  # feature 5 is 1 on positives, 0 on negatives
    monitor = fit_sae_sparse(x, y, identity_sae(D, HOOK), config=SAESparseConfig(n_features=1))
    assert monitor.feature_ids.tolist() in ([5], [D + 5])
    assert auroc(monitor.score(x), y) == 1.0
