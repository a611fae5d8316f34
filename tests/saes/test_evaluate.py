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
    from workbench.saes.evaluate import CHANCE, comparison_table

    from helpers import random_suite

    model = tiny_model()
    twin = tiny_model(seed=5)
    sae = identity_sae(32, HOOK)
    rows = comparison_table(
        model,
        HOOK,
        {"exact": sae, "on neurons": identity_sae(64, "blocks.0.mlp.hook_post")},
        play_games(n_games=20, rng=2),
        suite=random_suite(model),
        random_init=(twin, sae),
    )
    names = [r["features"] for r in rows]
    assert names[0] == "exact" and names[1] == "on neurons (blocks.0.mlp.hook_post)"
    assert "MLP neurons" in names[2] and names[3] == CHANCE
    assert names[4] == "SAE on a random-init model" and names[5].startswith("linear probes")
    assert all("reconstruction" in r for r in rows)
    # An exact SAE on the neurons' own space scores exactly as the neurons do, up to the
    # negative half it adds (relu(-x) features), which can only find more.
    for key in ("coverage mine/theirs/empty", "coverage legal", "coverage flipped"):
        assert rows[1][key] >= rows[2][key] - 1e-6


def test_a_tables_rows_are_each_saes_own_evaluation():
    """The table harvests once and measures the clean and zero-ablated losses once per
    hook; each SAE's row must still be what evaluating it alone gives."""
    from workbench.saes.evaluate import comparison_table

    model = tiny_model()
    games = play_games(n_games=20, rng=4)
    saes = {"resid": identity_sae(32, HOOK), "neurons": identity_sae(64, "blocks.0.mlp.hook_post")}
    rows = comparison_table(model, HOOK, saes, games)
    for row, sae in zip(rows, saes.values(), strict=False):
        alone = evaluate_sae(model, sae, games, hook=sae.cfg.metadata.hook_name)
        for key in ("loss_clean", "loss_zero", "loss_sae", "explained_variance", "reconstruction"):
            assert row[key] == pytest.approx(alone[key], abs=1e-6), key
    assert rows[0]["loss_zero"] != pytest.approx(rows[1]["loss_zero"])  # each hook its own


def test_sharing_the_work_between_rows_changes_no_figure():
    """The table encodes each SAE once and builds the board properties once for all rows,
    and coverage by layer once for all layers: every row must be, to the bit, what the
    public functions give on their own, each harvesting and scoring from scratch."""
    from dataclasses import asdict

    from workbench.activations import harvest
    from workbench.saes.board import board_properties, score_features
    from workbench.saes.evaluate import (
        RANDOM_INIT_ROW,
        board_metrics,
        comparison_table,
        coverage_by_layer,
        encode_positions,
    )

    model, twin = tiny_model(), tiny_model(seed=5)
    games = play_games(n_games=20, rng=6)
    sae = identity_sae(32, HOOK)
    table = comparison_table(model, HOOK, {"x": sae}, games, random_init=(twin, sae))
    acts = harvest(model, games, [HOOK], progress=False)
    alone = {
        **asdict(sae_metrics(model, sae, games)),
        **board_metrics(encode_positions(sae, acts, HOOK), acts).row("x"),
    }
    assert table[0] == alone
    twin_acts = harvest(twin, games, [HOOK], progress=False)
    on_twin = board_metrics(encode_positions(sae, twin_acts, HOOK), twin_acts)
    assert table[-1] == on_twin.row(RANDOM_INIT_ROW)

    rows = coverage_by_layer(model, games, name="tiny", saes={HOOK: sae})
    props = board_properties(acts.labels)
    assert {k: rows[0][k] for k in ("mine/theirs/empty", "legal", "flipped")} == (
        score_features(encode_positions(sae, acts, HOOK), props).coverage()
    )


def test_several_random_init_saes_get_a_named_row_each_scored_on_the_twin():
    from workbench.saes.evaluate import RANDOM_INIT_ROW, comparison_table

    model, twin = tiny_model(), tiny_model(seed=5)
    sae = identity_sae(32, HOOK)
    games = play_games(n_games=20, rng=3)
    one = comparison_table(model, HOOK, {}, games, random_init=(twin, sae))
    two = comparison_table(model, HOOK, {}, games, random_init=(twin, {"a": sae, "b": sae}))
    (plain,) = [r for r in one if r["features"] == RANDOM_INIT_ROW]
    named = [r for r in two if r["features"].startswith(RANDOM_INIT_ROW)]
    assert [r["features"] for r in named] == [f"{RANDOM_INIT_ROW} (a)", f"{RANDOM_INIT_ROW} (b)"]
    # The same SAE on the same twin scores the same, whatever its row is called; and an
    # exact SAE on the twin is scored on the twin's activations, not the model's.
    for row in named:
        assert {k: v for k, v in row.items() if k != "features"} == {
            k: v for k, v in plain.items() if k != "features"
        }
    (exact_on_model,) = comparison_table(model, HOOK, {"x": sae}, games)[:1]
    assert plain["coverage mine/theirs/empty"] != exact_on_model["coverage mine/theirs/empty"]


def test_an_exact_probe_covers_every_state_it_can_occur_in():
    """One-hot board activations read by an exact probe: F1 1 for every mine/theirs/empty
    property that occurs; the centre squares, never empty, are skipped, not counted as 0."""
    import torch
    import torch.nn.functional as F

    from workbench.activations import Activations, Labels
    from workbench.probes.probe import LinearProbe, ProbeSuite
    from workbench.saes.evaluate import probe_board_metrics

    games = play_games(n_games=20, rng=3)
    labels = Labels.from_games(games)
    site = "blocks.0.hook_resid_post"
    onehot = F.one_hot(labels.relative.long(), 3).float().flatten(-2)  # game, pos, 64 * 3
    W = torch.eye(192).reshape(192, 64, 3)  # reads each square's own one-hot block
    suite = ProbeSuite(
        probes={"relative|" + site: LinearProbe(W, torch.zeros(64, 3), "relative", site)}
    )
    out = probe_board_metrics(suite, Activations({site: onehot}, labels=labels), site)
    assert out["reconstruction"] == 1.0
    for key in ("coverage mine/theirs/empty", "coverage empty", "coverage mine", "coverage theirs"):
        assert out[key] == pytest.approx(1.0), key


def test_coverage_by_layer_scores_random_init_saes_on_the_twin():
    from workbench.activations import harvest
    from workbench.saes.board import board_properties, score_features
    from workbench.saes.evaluate import coverage_by_layer

    model = tiny_model()
    twin = tiny_model(seed=5)
    sae = identity_sae(32, HOOK)
    games = play_games(n_games=20, rng=3)
    rows = coverage_by_layer(
        model, games, name="tiny", saes={HOOK: sae}, random_init=(twin, {HOOK: sae})
    )
    by_kind = {r["features"]: r for r in rows}
    trained = by_kind["SAE standard (hook_resid_post, d_sae 64)"]
    random = by_kind["SAE standard on a random-init model (hook_resid_post, d_sae 64)"]
    assert trained["layer"] == random["layer"] == 0
    neuron_layers = [r["layer"] for r in rows if "MLP neurons" in r["features"]]
    assert neuron_layers == list(range(model.cfg.n_layers))
    # The neurons of every layer, harvested in one pass: the figures each layer gives alone.
    for layer in range(model.cfg.n_layers):
        site = f"blocks.{layer}.mlp.hook_post"
        alone = harvest(model, games, [site], progress=False)
        flat = alone.flat(site)[0].float()
        expected = score_features(flat, board_properties(alone.labels)).coverage()
        row = next(r for r in rows if "MLP neurons" in r["features"] and r["layer"] == layer)
        assert {k: row[k] for k in expected} == pytest.approx(expected, abs=1e-6)
    # Scored on the twin's own activations: the same figures evaluate_sae gives there.
    key = "mine/theirs/empty"
    on_twin = evaluate_sae(twin, sae, games)[f"coverage {key}"]
    on_model = evaluate_sae(model, sae, games)[f"coverage {key}"]
    assert random[key] == pytest.approx(on_twin, abs=1e-4)
    assert trained[key] == pytest.approx(on_model, abs=1e-4)
    assert random[key] != pytest.approx(trained[key], abs=1e-4)
    # Several SAEs at one hook: (hook, SAE) pairs, one row each.
    pairs = coverage_by_layer(model, games, name="tiny", saes=[(HOOK, sae), (HOOK, sae)])
    assert [r[key] for r in pairs if r["features"] == trained["features"]] == [trained[key]] * 2


def test_a_shipped_models_rows_cover_every_layer_and_every_shipped_sae():
    from workbench.activations import hook_layer
    from workbench.saes.evaluate import shipped_coverage_by_layer
    from workbench.saes.loading import list_saes

    name = "othello-gpt-cpu"  # the smallest OthelloGPT with SAEs shipped at every layer
    rows = shipped_coverage_by_layer(name, play_games(n_games=4, rng=3))
    shipped = [e for e in list_saes(name) if e.architecture in ("topk", "batchtopk")]
    resid = [e for e in shipped if e.hook.endswith("hook_resid_post")]
    expected = sorted((hook_layer(e.hook), e.architecture, e.random_init) for e in resid)
    kinds = [
        (r["layer"], r["features"].split(" (")[0]) for r in rows if r["features"][:4] == "SAE "
    ]
    got = sorted((layer, k.split()[1], "random-init" in k) for layer, k in kinds)
    assert got == expected  # one row per shipped SAE, both architectures, twins marked
    assert {"topk", "batchtopk"} <= {e.architecture for e in resid}
    neurons = [r["layer"] for r in rows if r["features"].startswith("MLP neurons")]
    assert neurons == list(range(4)) and {r["model"] for r in rows} == {name}


def test_chance_level_is_the_f1_of_always_saying_yes():
    """Checked against 2p / (1 + p) per property, p its frequency, averaged over the
    properties that occur: computed here with numpy from the engine's own boards."""
    import numpy as np

    from workbench.activations import Labels
    from workbench.saes.evaluate import chance_metrics

    games = play_games(n_games=40, rng=4)
    m = chance_metrics(Labels.from_games(games))
    states = games.boards("relative")[:, 1:60]  # the state after each of the 59 inputs
    valid = games.moves[:, :59] >= 0
    groups = {
        "mine/theirs/empty": np.concatenate([states[valid] == c for c in range(3)], axis=1),
        "legal": games.legal_mask()[:, 1:60][valid],
        "flipped": games.flipped_mask()[:, 1:60][valid],
    }
    for group, held in groups.items():
        p = held.mean(0)
        p = p[p > 0]
        assert m.coverage[group] == pytest.approx(float(np.mean(2 * p / (1 + p))), abs=1e-5)
    assert m.reconstruction == pytest.approx(m.reconstruction_majority)  # names no square
    assert m.reconstruction_f1 == 0.0


def test_evaluation_games_are_fixed_and_another_seed_is_another_set():
    from workbench.saes.evaluate import EVAL_SEED, eval_games

    a, b = eval_games(4), eval_games(4)
    assert (a.moves == b.moves).all() and (eval_games(4, EVAL_SEED).moves == a.moves).all()
    assert not (eval_games(4, seed=1).moves == a.moves).all()


def test_split_comparison_gives_a_row_per_feature_set_and_size():
    from workbench.saes.evaluate import NEURONS_ROW, RANDOM_INIT_ROW, split_comparison

    model = tiny_model()
    sae = identity_sae(32, HOOK)
    rows = split_comparison(
        model, HOOK, {"exact": sae}, play_games(n_games=20, rng=3), sizes=(1, 3),
        random_init=(model, {"same": sae}),  # the model as its own twin: the same figures
    )  # fmt: skip
    names = [(r["features"], r["features per property"]) for r in rows]
    neurons = f"{NEURONS_ROW} (blocks.0.mlp.hook_post)"
    twin = f"{RANDOM_INIT_ROW} (same)"
    assert names == [("exact", 1), ("exact", 3), (neurons, 1), (neurons, 3), (twin, 1), (twin, 3)]
    for a, b in zip(rows[:2], rows[4:], strict=True):
        assert {k: v for k, v in a.items() if k != "features"} == {
            k: v for k, v in b.items() if k != "features"
        }
    values = [v for r in rows for k, v in r.items() if k.startswith("coverage")]
    assert len(values) == 18 and all(0 <= v <= 1 for v in values)
