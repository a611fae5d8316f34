import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from workbench.attribution.patching import (
    activation_patching,
    attribution_patching,
    find_minimal_pair,
    minimal_pair,
    path_patching,
    unit_labels,
)
from workbench.othello import play_games

from helpers import tiny_model


@pytest.fixture(scope="module")
def pair():
    game = play_games(n_games=1, rng=4).moves[0]
    return minimal_pair(game, 20)


@pytest.fixture(scope="module")
def early_pair():
    return find_minimal_pair(play_games(n_games=50, rng=4), 24, differ_at=20)[1]


def test_minimal_pair_differs_in_the_last_move_only(pair):
    assert torch.equal(pair.clean[0, :-1], pair.corrupted[0, :-1])
    assert pair.clean[0, -1] != pair.corrupted[0, -1]
    assert pair.changed and pair.move != pair.versus
    assert "squares that differ" in pair.describe()


def test_patching_everything_at_the_first_layer_restores_the_clean_metric(pair):
    model = tiny_model()
    sweep = activation_patching(model, pair, kind="resid")
    assert sweep.shape == (2, pair.clean.shape[1])
    # Before layer 0 only the last token differs: patching it there restores everything,
    # and positions before it change nothing.
    assert sweep[0, -1] == pytest.approx(1.0, abs=1e-4)
    assert torch.allclose(sweep[0, :-1], torch.zeros(pair.clean.shape[1] - 1), atol=1e-5)
    assert (
        len(unit_labels(model, "heads")) == activation_patching(model, pair, kind="heads").shape[0]
    )


def test_attribution_patching_is_exact_where_the_model_is_linear(pair):
    # No LayerNorm, attention only: the logits are linear in the last layer's head outputs
    # (z -> W_O -> residual -> W_U), so there AtP has no higher-order error.
    cfg = HookedTransformerConfig(
        n_layers=2,
        d_model=16,
        n_ctx=59,
        d_head=4,
        n_heads=4,
        d_vocab=61,
        attn_only=True,
        normalization_type=None,
        act_fn="relu",
        seed=1,
    )
    model = HookedTransformer(cfg)
    exact = activation_patching(model, pair, kind="heads")
    approx = attribution_patching(model, pair, kind="heads")
    last_layer = slice(4, 8)
    assert torch.allclose(approx[last_layer], exact[last_layer], atol=1e-4)
    assert exact[last_layer].abs().max() > 1e-3  # a real effect, not 0 == 0


def test_path_patching_through_every_receiver_equals_the_direct_route(pair):
    model = tiny_model()
    senders = [(0, 0), (0, 1)]
    through_final = path_patching(model, pair, senders, ["blocks.1.hook_resid_post"])
    assert -5 < through_final < 5
    with pytest.raises(Exception, match="Valid names"):
        path_patching(model, pair, senders, ["blocks.7.hook_nothing"])


def test_an_earlier_difference_keeps_later_moves_and_patching_finds_it(early_pair):
    diff = (early_pair.clean != early_pair.corrupted).nonzero()[:, 1].tolist()
    assert diff == [20]  # one move differs, every later one is kept
    sweep = activation_patching(tiny_model(), early_pair, kind="resid")
    assert sweep[0, 20] == pytest.approx(1.0, abs=1e-4)  # the only token that differs
    assert torch.allclose(sweep[0, :20], torch.zeros(20), atol=1e-5)


def test_batched_patching_matches_one_patched_run_per_position(early_pair):
    # reference: the corrupted game run alone, one hook patching one position
    model = tiny_model()
    _, cache = model.run_with_cache(early_pair.clean)
    metric = early_pair.metric()

    def value(hooks=()):
        with torch.no_grad(), model.hooks(fwd_hooks=list(hooks)):
            return float(metric(model(early_pair.corrupted)))

    clean, corrupted = float(metric(model(early_pair.clean))), value()
    positions = [0, 5, 20, 24]
    sweep = activation_patching(model, early_pair, kind="heads", positions=positions, batch_size=3)
    heads = [(lay, h) for lay in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    for row, (layer, head) in enumerate(heads):
        name = f"blocks.{layer}.attn.hook_z"
        for col, p in enumerate(positions):

            def patch(z, hook, p=p, head=head, name=name):
                z[:, p, head] = cache[name][:, p, head]
                return z

            expected = (value([(name, patch)]) - corrupted) / (clean - corrupted)
            assert float(sweep[row, col]) == pytest.approx(expected, abs=1e-5)
