import numpy as np
import pytest
import torch

from workbench.othello import play_games
from workbench.saes.features import FeatureSet
from workbench.saes.plots import feature_boards_figure, feature_card_figure, top_positions_figure

from helpers import identity_sae, random_suite, tiny_model

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def features():
    model = tiny_model()
    return FeatureSet.build(model, identity_sae(32, HOOK), play_games(n_games=20, rng=0))


def test_card_facts_match_direct_computation(features):
    f = features.best_labelled(1)[0]
    card = features.card(f, suite=random_suite(features.model))
    a = features.acts[:, f]
    assert card.frequency == pytest.approx(float((a > 0).float().mean()))
    g, p, value = card.top[0]
    assert value == pytest.approx(float(a.max()))
    assert np.allclose(card.mean_board.sum(-1), 1.0)  # a distribution per square
    assert card.probe_cosine.shape == (64, 3) and np.all(np.abs(card.probe_cosine) <= 1 + 1e-6)
    assert np.isnan(card.logit_effect[27]) and np.isfinite(card.logit_effect[0])
    assert card.label == features.scores.label(f)[0]


def test_logit_effect_is_the_decoder_through_the_unembedding(features):
    model = features.model
    f = 3
    d = features.sae.W_dec[f].detach()
    d = (d - d.mean()) * model.ln_final.w.detach() / features.ln_scale
    expected = (d @ model.W_U.detach())[1:]
    card = features.card(f)
    from workbench.othello.tokens import TOKEN_TO_SQUARE

    assert np.allclose(card.logit_effect[TOKEN_TO_SQUARE[1:]], expected.numpy(), atol=1e-5)


def test_search_and_bad_input(features):
    hits = features.search("C4 theirs", n=3)
    assert len(hits) == 3 and hits[0][1] >= hits[-1][1]
    with pytest.raises(ValueError, match="e.g. 'C4 theirs'"):
        features.search("Z9 purple")
    with pytest.raises(ValueError, match="feature must be in 0..63"):
        features.card(64)


def test_figures_build(features):
    card = features.card(features.best_labelled(1)[0])
    assert len(feature_card_figure(card).data) >= 3
    assert len(top_positions_figure(features, card).frames) == len(card.top)
    assert len(feature_boards_figure(features, [0, 1, 2]).frames) == 3


def test_explorer_search_picks_a_feature_and_carries_a_static_form(features):
    from workbench.widgets import FeatureExplorer
    from workbench.widgets.static import STATIC_FIGURE_MIME

    explorer = FeatureExplorer(features)
    explorer.query.value = "c4 theirs"
    best = explorer.results.options[0][1]
    assert explorer.feature.value == best
    explorer.query.value = "nonsense"
    assert "e.g. 'C4 theirs'" in explorer.message.value
    assert STATIC_FIGURE_MIME in explorer._repr_mimebundle_()
    torch.manual_seed(0)
