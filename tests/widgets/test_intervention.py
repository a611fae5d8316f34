import numpy as np

from workbench.othello import play_games
from workbench.plots import TRACE
from workbench.widgets import InterventionExplorer

from helpers import random_suite, tiny_model


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


def test_display_bundle_carries_a_kernel_free_flip_slider():
    from workbench.widgets.static import STATIC_FIGURE_MIME

    model = tiny_model()
    game = play_games(n_games=1, rng=0).moves[0][:12]
    explorer = InterventionExplorer(model, random_suite(model), game)
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    figure = bundle[STATIC_FIGURE_MIME]
    n_stones = int((explorer._relative_board() != 0).sum())
    assert len(figure["frames"]) == n_stones + 1  # "no edit", then one flip per stone
    assert len(figure["layout"]["sliders"][0]["steps"]) == n_stones + 1
