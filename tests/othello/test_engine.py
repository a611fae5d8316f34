import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.othello import engine, reference
from workbench.othello.engine import IllegalMoveError, pack, play_games, replay, unpack
from workbench.othello.squares import BLACK, MINE, THEIRS, WHITE


def assert_matches_reference(record, game: int) -> None:
    moves = [int(m) for m in record.moves[game] if m >= 0]
    ref = reference.play(moves)
    boards = record.boards()[game]
    legal = record.legal_mask()[game]
    flipped = record.flipped_mask()[game]
    for t in range(len(ref.boards)):
        assert list(boards[t]) == ref.boards[t], f"board differs at state {t}"
        assert list(np.flatnonzero(legal[t])) == ref.legal[t], f"legal set differs at {t}"
        assert list(np.flatnonzero(flipped[t])) == ref.flipped[t], f"flips differ at {t}"
        if ref.legal[t]:
            assert record.player[game, t] == ref.players[t]
    # After the end the board stays as it was and no move is legal.
    final = len(ref.boards) - 1
    assert (boards[final:] == boards[final]).all()
    assert not legal[final + 1 :].any()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40))
def test_random_games_match_scalar_reference(seed, n):
    record = play_games(n_games=n, rng=seed)
    for game in range(n):
        assert_matches_reference(record, game)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_reference_games_replay_identically(seed):
    ref = reference.play(seed=seed)
    record = replay([ref.moves])
    assert list(record.moves[0][: len(ref.moves)]) == ref.moves
    assert_matches_reference(record, 0)


def test_games_with_passes_are_covered():
    record = play_games(n_games=3000, rng=1)
    # a pass: the same player moves at two consecutive states
    passes = (record.player[:, 1:] == record.player[:, :-1]) & (record.legal[:, 1:] != 0)
    assert passes.any(), "no pass in 3000 games: the pass path would be untested"
    games = np.flatnonzero(passes.any(axis=1))[:20]
    for g in games:
        assert_matches_reference(record, int(g))
    short = np.flatnonzero(record.lengths < 60)[:20]
    assert len(short) > 0
    for g in short:
        assert_matches_reference(record, int(g))


def test_greedy_policy_plays_legal_maximal_flips():
    record = play_games(n_games=50, policy="greedy", rng=3)
    boards = record.boards()
    for g in range(50):
        ref = reference.play([int(m) for m in record.moves[g] if m >= 0])  # legality
        for t, square in enumerate(ref.moves):
            board = ref.boards[t]
            best = max(len(reference.flipped_by(board, s, ref.players[t])) for s in ref.legal[t])
            assert len(reference.flipped_by(board, square, ref.players[t])) == best
        assert (boards[g, 0] == np.array(reference.start_board())).all()


def test_relative_frame_is_seen_from_player_to_move():
    record = play_games(n_games=20, rng=5)
    absolute, relative = record.boards("absolute"), record.boards("relative")
    black_to_move = (record.player == BLACK)[..., None]
    mine_colour = np.where(black_to_move, BLACK, WHITE)
    assert ((relative == MINE) == (absolute == mine_colour)).all()
    assert ((relative == THEIRS) == ((absolute != 0) & (absolute != mine_colour))).all()


def test_illegal_move_error_names_move_and_legal_moves():
    with pytest.raises(IllegalMoveError, match=r"move 0 \(A1\) is illegal.*D3, C4, F5, E6"):
        replay(["A1"])
    with pytest.raises(IllegalMoveError, match="Game 1, move 1"):
        replay([["F5", "D6"], ["F5", "F5"]])


def test_malformed_sequences_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown square name 'Z9'"):
        replay(["Z9"])
    with pytest.raises(ValueError, match="at most 60 moves"):
        replay([["F5"] * 61])
    with pytest.raises(IllegalMoveError, match="not a square index"):
        play_games(np.array([[70]]))
    with pytest.raises(IllegalMoveError, match="after its end"):
        play_games(np.array([[37, -1, 43]]))


def test_a_stopped_sequence_keeps_its_legal_moves():
    record = replay(["F5"])
    assert record.legal_mask()[0, 1].sum() == 3  # white's replies to F5: D6, F4, F6
    assert not record.legal_mask()[0, 2:].any()
    assert (record.boards()[0, 2:] == record.boards()[0, 1]).all()
    with pytest.raises(ValueError, match="policy must be"):
        play_games(n_games=1, policy="minimax")


def test_names_and_indices_are_interchangeable():
    by_name = replay(["F5", "D6", "C3"])
    by_index = replay([37, 43, 18])
    assert (by_name.moves == by_index.moves).all()


def test_generation_is_seeded_and_chunking_does_not_change_games(monkeypatch):
    a = play_games(n_games=100, rng=7)
    b = play_games(n_games=100, rng=7)
    assert (a.moves == b.moves).all()
    many = play_games(n_games=engine._CHUNK + 5, rng=0)
    assert many.n_games == engine._CHUNK + 5
    for g in (0, engine._CHUNK - 1, engine._CHUNK + 4):
        assert_matches_reference(many, g)


def test_pack_unpack_round_trip():
    rng = np.random.default_rng(0)
    mask = rng.random((5, 7, 64)) < 0.3
    assert (unpack(pack(mask)) == mask).all()


def test_select_bit_matches_brute_force():
    rng = np.random.default_rng(0)
    boards = rng.integers(1, 2**63, size=500, dtype=np.uint64) | np.uint64(1)
    counts = engine.popcount(boards)
    k = (rng.random(500) * counts).astype(np.int64)
    got = engine.select_bit(boards, k)
    for b, kk, g in zip(boards, k, got, strict=True):
        assert np.flatnonzero(unpack(np.array([b]))[0])[kk] == g
