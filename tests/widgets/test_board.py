import numpy as np

from workbench.othello import replay
from workbench.plots import TRACE
from workbench.widgets import GameExplorer

from helpers import tiny_model


def test_clicking_legal_squares_plays_them_and_updates_the_board():
    explorer = GameExplorer(tiny_model())
    assert explorer.state == 0 and explorer.slider.max == 0
    assert explorer.play("F5") and explorer.play("D6")
    assert explorer.moves == [37, 43] and explorer.state == 2
    truth = replay(["F5", "D6"]).boards()[0, 2]
    n_stones = len(explorer.figure.data[TRACE["black"]].x) + len(
        explorer.figure.data[TRACE["white"]].x
    )
    assert n_stones == (truth != 0).sum() == 6
    # the heatmap holds the model's probabilities at this state
    z = np.array(explorer.figure.data[TRACE["heatmap"]].z, dtype=float).ravel()
    assert np.allclose(z, explorer.probs[2], equal_nan=True)


def test_illegal_click_is_refused_with_the_legal_moves():
    explorer = GameExplorer(tiny_model())
    assert not explorer.play("A1")
    assert "not legal" in explorer.message.value and "D3" in explorer.message.value
    assert explorer.moves == []


def test_slider_steps_back_and_playing_there_branches():
    explorer = GameExplorer(tiny_model(), moves=["F5", "D6", "C3"])
    explorer.slider.value = 1
    assert len(explorer.figure.data[TRACE["black"]].x) == 4  # after F5: black has 4
    assert explorer.play("F6")
    assert explorer.moves == [37, 45]


def test_random_game_and_model_move():
    explorer = GameExplorer(tiny_model(), seed=3)
    explorer.random_game()
    assert explorer.slider.max >= 9 and explorer.state == 0
    explorer.slider.value = 5
    explorer.play_model_move()  # plays the argmax if legal, else reports why not
    assert explorer.state == 6 or "not legal" in explorer.message.value


def test_display_bundle_carries_a_kernel_free_game_slider():
    from workbench.widgets.static import STATIC_FIGURE_MIME

    explorer = GameExplorer(tiny_model(), moves=["F5", "D6", "C3"])
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert len(bundle[STATIC_FIGURE_MIME]["frames"]) == 4  # states 0..3
