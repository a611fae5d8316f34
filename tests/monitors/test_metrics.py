import json
import statistics

import numpy as np
import pytest
import torch

from workbench.monitors import (
    MonitorFileError,
    MonitorScore,
    MonitorTable,
    auroc,
    evaluate,
    fit_contrast,
    roc_curve,
)


def brute_force_auroc(scores, labels) -> float:
    """Count every (positive, negative) pair: a win is 1, a tie one half."""
    pos = [s for s, y in zip(scores.tolist(), labels.tolist(), strict=True) if y]
    neg = [s for s, y in zip(scores.tolist(), labels.tolist(), strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def tied_data(seed: int, n: int = 90):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.rand(n, generator=gen) < 0.4
    scores = torch.randint(0, 7, (n,), generator=gen).float() + labels * 1.5  # many ties
    return scores, labels


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_the_pairwise_count_with_ties(seed):
    scores, labels = tied_data(seed)
    assert auroc(scores, labels) == pytest.approx(brute_force_auroc(scores, labels), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_auroc_and_roc_curve_match_sklearn(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    scores, labels = tied_data(seed)
    assert auroc(scores, labels) == pytest.approx(metrics.roc_auc_score(labels, scores))
    fpr, tpr, thresholds = roc_curve(scores, labels)
    ref_fpr, ref_tpr, ref_thr = metrics.roc_curve(labels, scores, drop_intermediate=False)
    assert np.allclose(fpr.numpy(), ref_fpr) and np.allclose(tpr.numpy(), ref_tpr)
    assert np.array_equal(thresholds.numpy()[1:], ref_thr[1:]) and thresholds[0] == np.inf


def test_roc_curve_integrates_to_the_auroc():
    scores, labels = tied_data(7, n=300)
    fpr, tpr, thresholds = roc_curve(scores, labels)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert bool((thresholds[1:] < thresholds[:-1]).all())  # strictly descending
    area = float(torch.trapezoid(tpr, fpr))  # ties are straight segments: trapezoids exact
    assert area == pytest.approx(auroc(scores, labels), abs=1e-12)


def test_auroc_edge_cases_and_shapes():
    y = torch.tensor([True, True, False, False])
    assert auroc(torch.tensor([3.0, 2.0, 1.0, 0.0]), y) == 1.0
    assert auroc(torch.tensor([0.0, 1.0, 2.0, 3.0]), y) == 0.0
    assert auroc(torch.ones(4), y) == 0.5
    scores, labels = tied_data(1, n=40)
    assert auroc(scores.reshape(4, 10), labels.reshape(4, 10)) == auroc(scores, labels)
    assert auroc(scores.numpy(), labels.numpy()) == auroc(scores, labels)


def test_single_class_and_bad_input_are_refused():
    with pytest.raises(ValueError, match="both classes, got n_pos=0, n_neg=3"):
        auroc(torch.arange(3.0), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="both classes, got n_pos=3, n_neg=0"):
        roc_curve(torch.arange(3.0), torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="3 scores but 2 labels"):
        auroc(torch.arange(3.0), torch.tensor([True, False]))
    with pytest.raises(ValueError, match="NaN"):
        auroc(torch.tensor([0.0, float("nan")]), torch.tensor([True, False]))


def test_table_summary_saves_and_loads(tmp_path):
    table = MonitorTable(notes={"command": "workbench ..."})
    values = {0: 0.91, 1: 0.95, 2: 0.90}
    for seed, a in values.items():
        table.add(MonitorScore("probe", "blocks.2.hook_resid_post", "t=2", seed, a, 100 + seed, 50))
    table.add(MonitorScore("mahalanobis", "blocks.2.hook_resid_post", "t=2", 0, 0.7, 10, 20))
    (probe, maha) = table.summary()
    assert (probe.monitor, probe.n_seeds, probe.n_pos, probe.n_neg) == ("probe", 3, 100, 50)
    assert probe.mean == pytest.approx(statistics.mean(values.values()))
    assert probe.std == pytest.approx(statistics.stdev(values.values()))
    assert (probe.min, probe.max) == (0.90, 0.95)
    assert maha.n_seeds == 1 and np.isnan(maha.std) and maha.mean == 0.7

    path = table.save(tmp_path / "table.json")
    assert MonitorTable.load(path) == table
    path.write_text(json.dumps({"rows": [{"monitor": "probe"}]}))
    with pytest.raises(MonitorFileError, match="table.json is not a monitor table"):
        MonitorTable.load(path)
    path.write_text("{not json")
    with pytest.raises(MonitorFileError, match="table.json"):
        MonitorTable.load(path)
    with pytest.raises(MonitorFileError, match="missing.json does not exist"):
        MonitorTable.load(tmp_path / "missing.json")


def test_evaluate_makes_a_row():
    pos, neg = torch.randn(30, 4) + 2, torch.randn(20, 4)
    monitor = fit_contrast(pos, neg, hook="blocks.0.hook_resid_post")
    x, y = torch.cat([pos, neg]), torch.arange(50) < 30
    row = evaluate(monitor, x, y, position="all", seed=0)
    assert row == MonitorScore(
        "mean-diff", "blocks.0.hook_resid_post", "all", 0, auroc(monitor.score(x), y), 30, 20
    )
    assert evaluate(monitor, x, y, position="all", seed=0, name="contrast").monitor == "contrast"
