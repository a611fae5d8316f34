import numpy as np
import torch

from workbench.othello import play_games, reference
from workbench.othello.squares import BLACK, EMPTY, MINE, THEIRS, WHITE
from workbench.probes.interventions import (
    Edit,
    edited_legal_moves,
    predict_with_edits,
    push_to_class,
    sample_flip_edits,
    top_n_errors,
)
from workbench.probes.probe import LinearProbe

from helpers import random_suite, tiny_model


def test_push_reaches_the_target_class_with_the_margin():
    gen = torch.Generator().manual_seed(0)
    probe = LinearProbe(torch.randn(16, 64, 3, generator=gen), torch.zeros(64, 3), "relative", "s")
    x = torch.randn(50, 16, generator=gen)
    squares, targets = torch.randint(0, 64, (50,)), torch.randint(0, 3, (50,))
    pushed = push_to_class(x, probe, squares, targets, scale=2.0, iterations=10)
    logits = probe.logits(pushed)[torch.arange(50), squares]
    target_logit = logits[torch.arange(50), targets]
    logits[torch.arange(50), targets] = -torch.inf
    assert (target_logit - logits.max(-1).values >= 2.0 - 1e-3).all()


def test_edited_legal_moves_match_scalar_reference():
    games = play_games(n_games=20, rng=0)
    boards = games.boards("relative")[:, 10]
    squares = np.array([int(np.flatnonzero(b != EMPTY)[0]) for b in boards])
    to = np.where(boards[np.arange(20), squares] == MINE, THEIRS, MINE)
    got = edited_legal_moves(boards, squares, to)
    for i in range(20):
        board = boards[i].copy()
        board[squares[i]] = to[i]
        absolute = [BLACK if v == MINE else WHITE if v == THEIRS else EMPTY for v in board]
        assert list(np.flatnonzero(got[i])) == reference.legal_squares(absolute, BLACK)


def test_sampled_edits_change_the_legal_set():
    games = play_games(n_games=50, rng=1)
    edits, legal_after = sample_flip_edits(games, 30, seed=0)
    for e, after in zip(edits, legal_after, strict=True):
        assert not np.array_equal(games.legal_mask()[e.game, e.position + 1], after)


def test_top_n_errors_brute_force():
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0] + [0.0] * 60])
    legal = np.zeros((1, 64), bool)
    legal[0, [0, 2, 9]] = True  # N = 3; top-3 = {0, 1, 2}: square 1 is the one error
    assert top_n_errors(logits, legal).tolist() == [1]


def test_zero_scale_is_the_unedited_model_and_hooks_are_removed():
    model = tiny_model()
    games = play_games(n_games=5, rng=2)
    edits = [Edit(0, 10, 20, MINE), Edit(3, 4, 44, THEIRS)]
    probe = LinearProbe(
        torch.randn(32, 64, 3), torch.zeros(64, 3), "relative", "blocks.0.hook_resid_post"
    )
    plain = predict_with_edits(model, games, edits, {}, scale=0.0)
    edited = predict_with_edits(model, games, edits, {"blocks.0.hook_resid_post": probe}, scale=5.0)
    assert not torch.allclose(plain, edited)
    again = predict_with_edits(model, games, edits, {}, scale=0.0)
    assert torch.equal(plain, again)
    assert all(not hp._forward_hooks for hp in model.hook_dict.values())


def test_chunking_by_position_does_not_change_predictions():
    model = tiny_model()
    games = play_games(n_games=30, rng=4)
    edits, _ = sample_flip_edits(games, 40, seed=1)
    site = "blocks.1.hook_resid_pre"
    probe = LinearProbe(torch.randn(32, 64, 3), torch.zeros(64, 3), "relative", site)
    one = predict_with_edits(model, games, edits, {site: probe}, scale=3.0, chunk_size=1)
    many = predict_with_edits(model, games, edits, {site: probe}, scale=3.0, chunk_size=64)
    assert torch.allclose(one, many, atol=1e-4)


def test_scan_flips_matches_one_edit_at_a_time():
    from workbench.activations import resid_sites
    from workbench.probes.interventions import probes_from, scan_flips

    model = tiny_model()
    games = play_games(n_games=1, rng=3)
    suite = random_suite(model)
    first = resid_sites(model)[1]
    scan = scan_flips(model, suite, games, 9, first_site=first, scale=5.0)
    board = games.boards("relative")[0, 10]
    assert sorted(scan.squares) == list(np.flatnonzero(board != EMPTY))
    probes = probes_from(model, suite, first)
    for i in (0, len(scan.squares) - 1):
        edit = Edit(0, 9, int(scan.squares[i]), int(scan.to_class[i]))
        alone = predict_with_edits(model, games, [edit], probes, scale=5.0).softmax(-1)[0]
        assert np.allclose(scan.probs_after[i], alone.numpy(), atol=1e-5)
        flipped = board.copy()
        flipped[edit.square] = edit.to_class
        absolute = [BLACK if v == MINE else WHITE if v == THEIRS else EMPTY for v in flipped]
        assert list(np.flatnonzero(scan.legal_after[i])) == reference.legal_squares(absolute, BLACK)
    assert (scan.errors_after >= 0).all() and len(scan.errors_before) == len(scan.squares)


def test_scan_flips_rejects_a_position_outside_the_game():
    import pytest

    from workbench.activations import resid_sites
    from workbench.probes.interventions import scan_flips

    model = tiny_model()
    games = play_games(n_games=1, rng=3)
    with pytest.raises(ValueError, match="outside game 0"):
        scan_flips(model, random_suite(model), games, 70, first_site=resid_sites(model)[0], scale=1)
