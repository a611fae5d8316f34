import pytest
import torch

from workbench.circuits.graph import ReplacementModel, build_graph, validate
from workbench.othello import model_inputs, play_games
from workbench.othello.tokens import SQUARE_TO_TOKEN

from helpers import identity_sae, tiny_model


def _saes(model, noise: float = 0.0):
    saes = {}
    for layer in range(model.cfg.n_layers):
        sae = identity_sae(32, f"blocks.{layer}.hook_resid_post")
        with torch.no_grad():  # an imperfect SAE: its error node is not zero
            sae.W_dec.add_(noise * torch.randn_like(sae.W_dec))
        saes[layer] = sae
    return saes


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = tiny_model()
    games = play_games(n_games=1, rng=2)
    tokens = torch.from_numpy(model_inputs(games))[0]
    move = int(games.legal_mask()[0, 13].nonzero()[0][0])
    return model, _saes(model, noise=0.05), tokens, move


def test_replacement_model_reproduces_the_logit(setup):
    model, saes, tokens, move = setup
    graph = build_graph(model, saes, tokens, 12, move, keep=5)
    assert graph.replacement_logit == pytest.approx(graph.logit, abs=1e-4)
    assert 0 <= graph.error_share <= 1 and any(n.feature == -1 for n in graph.nodes)


def test_edges_into_the_logit_match_finite_interventions(setup):
    model, saes, tokens, move = setup
    graph = build_graph(model, saes, tokens, 12, move, keep=5)
    rep = ReplacementModel(model, saes, tokens)
    last = model.cfg.n_layers - 1

    for (s, t), w in graph.edges.items():
        node = graph.nodes[s]
        if t != 0 or node.feature < 0:
            continue
        eps = 1e-3
        f = rep.features[last].clone()
        f[node.position, node.feature] *= 1 + eps
        with torch.no_grad():
            up = float(rep.run_from(last, f)[0, 12, SQUARE_TO_TOKEN[move]])
            base = float(rep.run_from(last, rep.features[last])[0, 12, SQUARE_TO_TOKEN[move]])
        assert (up - base) / eps == pytest.approx(w, rel=0.05, abs=1e-4)


def test_edges_between_layers_match_finite_interventions(setup):
    model, saes, tokens, move = setup
    graph = build_graph(model, saes, tokens, 12, move, keep=5)
    rep = ReplacementModel(model, saes, tokens)
    checked = 0
    for (s, t), w in graph.edges.items():
        src, dst = graph.nodes[s], graph.nodes[t]
        if t == 0 or src.feature < 0:
            continue
        eps = 1e-3
        f = rep.features[src.layer].clone()
        with torch.no_grad():
            base = rep.run_from(src.layer, f, to_layer=dst.layer)[dst.position, dst.feature]
            f[src.position, src.feature] *= 1 + eps
            up = rep.run_from(src.layer, f, to_layer=dst.layer)[dst.position, dst.feature]
        assert float(up - base) / eps == pytest.approx(w, rel=0.05, abs=1e-4)
        checked += 1
    assert checked > 0


def test_validation_reports_agreement(setup, capsys):
    model, saes, tokens, move = setup
    graph = build_graph(model, saes, tokens, 12, move, keep=5)
    capsys.readouterr()
    result = validate(graph, model, saes, tokens, 12, move, top=5)
    assert 0 <= result["sign_agreement"] <= 1 and len(result["rows"]) == 5
    assert "ablating nodes: 100%" in capsys.readouterr().err  # a bar, ended at its total


def test_graph_view_and_explorer(setup):
    from workbench.circuits.plots import graph_figure
    from workbench.saes.features import FeatureSet
    from workbench.widgets import CircuitExplorer
    from workbench.widgets.static import STATIC_FIGURE_MIME

    model, saes, tokens, move = setup
    graph = build_graph(model, saes, tokens, 12, move, keep=4)
    fig = graph_figure(graph)
    assert len(fig.data[0].x) == sum(n.feature != -1 for n in graph.nodes)
    games = play_games(n_games=5, rng=0)
    features = {layer: FeatureSet.build(model, sae, games) for layer, sae in saes.items()}
    explorer = CircuitExplorer(graph, features)
    feature_node = next(i for i, n in enumerate(graph.nodes) if n.feature >= 0)
    explorer.show(feature_node)
    assert graph.nodes[feature_node].label in explorer.info.value
    assert STATIC_FIGURE_MIME in explorer._repr_mimebundle_()
