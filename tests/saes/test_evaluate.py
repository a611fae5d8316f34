import pytest

from workbench.othello import play_games
from workbench.saes.evaluate import evaluate_sae, sae_metrics

from helpers import identity_sae, tiny_model

HOOK = "blocks.0.hook_resid_post"


def test_an_exact_sae_recovers_all_the_loss():
    model = tiny_model()
    games = play_games(n_games=30, rng=0)
    m = sae_metrics(model, identity_sae(32, HOOK), games)
    assert m.explained_variance == pytest.approx(1.0, abs=1e-5)
    assert m.loss_sae == pytest.approx(m.loss_clean, abs=1e-4)
    assert m.loss_recovered == pytest.approx(1.0, abs=1e-3)
    assert m.loss_zero != pytest.approx(m.loss_clean)


def test_evaluation_row_has_standard_and_board_figures():
    model = tiny_model()
    row = evaluate_sae(model, identity_sae(32, HOOK), play_games(n_games=30, rng=1))
    for key in ("l0", "loss_recovered", "dead_fraction", "coverage legal", "reconstruction"):
        assert key in row
    assert 0 <= row["coverage mine/theirs/empty"] <= 1


def test_comparison_table_has_sae_neuron_random_and_probe_rows():
    from workbench.saes.evaluate import comparison_table

    from helpers import random_suite

    model = tiny_model()
    twin = tiny_model(seed=5)
    sae = identity_sae(32, HOOK)
    rows = comparison_table(
        model,
        HOOK,
        {"exact": sae},
        play_games(n_games=20, rng=2),
        suite=random_suite(model),
        random_init=(twin, sae),
    )
    names = [r["features"] for r in rows]
    assert names[0] == "exact" and "MLP neurons" in names[1]
    assert names[2] == "SAE on a random-init model" and names[3].startswith("linear probes")
    assert all("reconstruction" in r for r in rows)
