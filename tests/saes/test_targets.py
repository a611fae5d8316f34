import pytest

from workbench.saes.targets import BOARD_MEASURES, SAETarget, against_target, shipped_tables


def _board(value: float, **overrides) -> dict:
    return {**{m: value for m in BOARD_MEASURES}, **overrides}


def _table(hook="blocks.1.hook_resid_post", sae=None, randoms=(0.3,)) -> list[dict]:
    sae = sae or {"l0": 64.0, "explained_variance": 0.95, "loss_recovered": 0.99, **_board(0.6)}
    rows = [
        {"features": "SAE batchtopk", **sae},
        {"features": "MLP neurons (blocks.1.mlp.hook_post)", **_board(0.5)},
        {"features": "a feature that always fires (chance level)", **_board(0.1)},
        {"features": "linear probes (a ceiling, not features)", **_board(0.9)},
    ]
    rows += [
        {"features": "SAE on a random-init model" + (f" ({i})" if i else ""), **_board(v)}
        for i, v in enumerate(randoms)
    ]
    return [{"hook": hook, **r} for r in rows]


def test_an_sae_above_both_baselines_and_faithful_meets_the_target_by_its_margins():
    (row,) = against_target(_table())
    assert row["features"] == "SAE batchtopk" and row["faithful"] and row["meets target"]
    for m in BOARD_MEASURES:  # over the better baseline: the neurons (0.5), not 0.3
        assert row[f"margin {m}"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "change",
    [{"l0": 64.5}, {"explained_variance": 0.89}, {"loss_recovered": 0.85}],
)
def test_an_unfaithful_sae_misses_the_target_whatever_its_board_scores(change):
    sae = {"l0": 64.0, "explained_variance": 0.95, "loss_recovered": 0.99, **_board(0.9)}
    (row,) = against_target(_table(sae={**sae, **change}))
    assert not row["faithful"] and not row["meets target"]


def test_one_measure_at_or_below_any_baseline_misses_the_target():
    sae = {"l0": 32.0, "explained_variance": 0.95, "loss_recovered": 0.99}
    tied = {**sae, **_board(0.6, **{"coverage flipped": 0.5})}  # ties the neurons
    (row,) = against_target(_table(sae=tied))
    assert row["margin coverage flipped"] == pytest.approx(0.0) and not row["meets target"]
    # A second random-init SAE (another architecture) that is better is the one to beat.
    (row,) = against_target(_table(randoms=(0.3, 0.65)))
    assert row["margin coverage legal"] == pytest.approx(-0.05) and not row["meets target"]
    assert SAETarget().max_l0 == 64  # the figures
    assert (SAETarget().min_explained_variance, SAETarget().min_loss_recovered) == (0.9, 0.9)


def test_a_table_without_its_baselines_is_refused_by_name():
    rows = [r for r in _table() if not r["features"].startswith("MLP neurons")]
    with pytest.raises(ValueError, match="blocks.1.hook_resid_post needs one 'MLP neurons'"):
        against_target(rows)
    rows = [r for r in _table() if "random-init" not in r["features"]]
    with pytest.raises(ValueError, match="at least one 'SAE on a random-init model'"):
        against_target(rows)


@pytest.mark.parametrize("model", ["othello", "othello-small"])
def test_every_shipped_sae_at_a_residual_site_is_read_against_the_target(model):
    from workbench.saes.loading import list_saes

    rows = shipped_tables(model)
    judged = against_target(rows)
    shipped = {
        (e.hook, f"SAE {e.architecture}")
        for e in list_saes(model)
        if not e.random_init and e.hook.endswith(".hook_resid_post")
    }
    assert {(r["hook"], r["features"]) for r in judged} == shipped
    for r in judged:
        assert r["meets target"] == (r["faithful"] and min(
            r[f"margin {m}"] for m in BOARD_MEASURES) > 0)  # fmt: skip
