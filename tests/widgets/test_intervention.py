import numpy as np
import torch

from workbench.activations import resid_sites
from workbench.othello import play_games
from workbench.plots import TRACE
from workbench.probes import LinearProbe, ProbeSuite
from workbench.widgets import InterventionExplorer

from helpers import tiny_model


def random_suite(model) -> ProbeSuite:
    gen = torch.Generator().manual_seed(0)
    suite = ProbeSuite()
    for site in resid_sites(model):
        W = torch.randn(model.cfg.d_model, 64, 3, generator=gen)
        suite.probes[suite.key("relative", site)] = LinearProbe(
            W, torch.zeros(64, 3), "relative", site
        )
    return suite


def test_flipping_a_stone_changes_predictions_and_legal_outlines():
    model = tiny_model()
    game = play_games(n_games=1, rng=0).moves[0][:12]
    explorer = InterventionExplorer(model, random_suite(model), game)
    before = np.array(explorer.after.data[TRACE["heatmap"]].z, dtype=float)
    board = explorer._relative_board()
    square = int(np.flatnonzero(board != 0)[0])
    explorer.flip(square)
    assert explorer.edit is not None and "Flipped" in explorer.info.value
    after = np.array(explorer.after.data[TRACE["heatmap"]].z, dtype=float)
    assert not np.allclose(before, after)
    left = np.array(explorer.before.data[TRACE["heatmap"]].z, dtype=float)
    assert np.allclose(left, before)  # the left board stays the unedited model


def test_clicking_an_empty_square_explains():
    model = tiny_model()
    explorer = InterventionExplorer(model, random_suite(model), ["F5", "D6"])
    explorer.flip(0)
    assert "empty" in explorer.info.value and explorer.edit is None
