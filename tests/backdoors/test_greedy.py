import numpy as np
import torch

from workbench.backdoors.greedy import greedy_adoption, greedy_moves, greedy_targets
from workbench.othello import reference
from workbench.othello.engine import play_games
from workbench.othello.tokens import SQUARE_TO_TOKEN

from helpers import tiny_model


def test_greedy_moves_match_the_reference_engine_square_by_square():
    games = play_games(n_games=6, rng=3)
    got = greedy_moves(games)
    for g in range(games.n_games):
        moves = [int(m) for m in games.moves[g] if m >= 0]
        ref = reference.play(moves)
        for t in range(min(len(moves), 59)):
            state = t + 1
            if state >= len(ref.boards) or not ref.legal[state]:
                assert not got[g, t].any()
                continue
            board, player = ref.boards[state], ref.players[state]
            counts = {s: len(reference.flipped_by(board, s, player)) for s in ref.legal[state]}
            best = max(counts.values())
            expected = sorted(SQUARE_TO_TOKEN[s] for s, c in counts.items() if c == best)
            assert np.flatnonzero(got[g, t]).tolist() == expected, (g, t)


def test_greedy_targets_are_distributions_and_a_greedy_model_adopts_fully():
    games = play_games(n_games=4, rng=1)
    targets = greedy_targets(games)
    sums = targets.sum(-1)
    assert torch.allclose(sums[sums > 0], torch.ones_like(sums[sums > 0]))

    class Oracle:  # plays a greedy move wherever there is one (an independent reference)
        cfg = type("cfg", (), {"device": "cpu"})

        def __call__(self, tokens):
            return torch.log(targets[: len(tokens)] + 1e-6)

    assert greedy_adoption(Oracle(), games) == 1.0
    assert 0.0 <= greedy_adoption(tiny_model(), games) < 1.0
