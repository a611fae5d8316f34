"""Transcoder attribution graphs on a tiny random model: edges are exact direct effects
in the linear replacement, checked against finite interventions (as circuit-tracer's tests
do), and the replacement reproduces the model."""

import torch

from workbench.attribution.logit import logit_metric
from workbench.circuits.attribution_graph import (
    EMBEDDING,
    LocalReplacement,
    build_attribution_graph,
    influence,
    prune_by_influence,
    validate_attribution_graph,
)
from workbench.circuits.transcoders import TranscoderTrainConfig, new_transcoder
from workbench.othello.engine import play_games
from workbench.othello.tokens import model_inputs

from helpers import tiny_model


def _setup(seed: int = 0):
    model = tiny_model(seed)
    transcoders = {}
    for layer in range(model.cfg.n_layers):
        tc = new_transcoder(model, TranscoderTrainConfig(layer=layer, expansion=2, seed=layer))
        with torch.no_grad():
            tc.W_skip.normal_(0, 0.05)
        transcoders[layer] = tc
    games = play_games(n_games=1, rng=seed)
    tokens = torch.from_numpy(model_inputs(games))[0, :20]
    return model, transcoders, tokens


def test_replacement_reproduces_the_model_exactly():
    model, transcoders, tokens = _setup()
    rep = LocalReplacement(model, transcoders, tokens)
    logits, _, _ = rep.run()
    torch.testing.assert_close(logits, rep.clean_logits, atol=1e-4, rtol=1e-4)
    recomputed, _, _ = rep.run(recompute=True)  # features re-encoded: same values
    torch.testing.assert_close(recomputed, rep.clean_logits, atol=1e-4, rtol=1e-4)


def test_edges_equal_finite_interventions_in_the_linear_replacement():
    model, transcoders, tokens = _setup()
    metric = logit_metric(19, 19, 20)
    graph = build_attribution_graph(model, transcoders, tokens, metric, 19, keep=4, max_nodes=6)
    rep = LocalReplacement(model, transcoders, tokens)
    checked = 0
    for (s, t), w in graph.edges.items():
        src, tgt = graph.nodes[s], graph.nodes[t]
        features = {k: f.clone() for k, f in rep.features.items()}
        errors = {k: e.clone() for k, e in rep.errors.items()}
        embedding = rep.embedding.clone()
        if src.feature >= 0:
            features[src.layer][src.position, src.feature] = 0.0
        elif src.feature == -1:
            errors[src.layer][src.position] = 0.0
        elif src.feature == EMBEDDING:
            embedding[src.position] = 0.0
        with torch.no_grad():
            before_logits, before_in, _ = rep.run()
            logits, inputs, _ = rep.run(features, errors=errors, embedding=embedding)
        if tgt.feature == -2:
            change = metric(logits) - metric(before_logits)
        else:
            change = rep.preactivation(inputs, tgt.layer, tgt.position, tgt.feature) - (
                rep.preactivation(before_in, tgt.layer, tgt.position, tgt.feature)
            )
        # Zeroing a source removes exactly its edge: w = a_s * d target / d a_s (linear).
        assert abs(float(change) + w) < 1e-3 * max(1.0, abs(w)), (src.label, tgt.label)
        checked += 1
    assert checked > 10
    kinds = {graph.nodes[s].feature >= 0 for s, _ in graph.edges} | {
        graph.nodes[s].feature for s, _ in graph.edges
    }
    assert -1 in kinds and EMBEDDING in kinds  # error and embedding edges are there too


def test_validation_reports_agreement_for_logit_and_features(capsys):
    model, transcoders, tokens = _setup()
    metric = logit_metric(19, 19, 20)
    graph = build_attribution_graph(model, transcoders, tokens, metric, 19, keep=4, max_nodes=8)
    capsys.readouterr()
    result = validate_attribution_graph(graph, model, transcoders, tokens, metric, top=5)
    assert "ablating features: 100%" in capsys.readouterr().err  # a bar, ended at its total
    assert result["logit"]["n"] == 5
    assert 0.0 <= result["logit"]["sign_agreement"] <= 1.0
    assert result["features"]["n"] > 0


def test_pruning_by_influence_keeps_the_most_influential_nodes():
    model, transcoders, tokens = _setup()
    metric = logit_metric(19, 19, 20)
    graph = build_attribution_graph(model, transcoders, tokens, metric, 19, keep=4, max_nodes=10)
    scores = influence(graph)
    pruned = prune_by_influence(graph, 0.5)
    kept = {(n.layer, n.position, n.feature) for n in pruned.nodes if n.feature >= 0}
    ranked = sorted(scores, key=lambda i: -scores[i])
    top = graph.nodes[ranked[0]]
    assert (top.layer, top.position, top.feature) in kept
    assert sum(scores[i] for i in ranked[: len(kept)]) >= 0.5 * sum(scores.values()) - 1e-9
    assert len(kept) < sum(1 for n in graph.nodes if n.feature >= 0)
    assert pruned.nodes[0].feature == -2  # the logit stays node 0
    assert all(s < len(pruned.nodes) and t < len(pruned.nodes) for s, t in pruned.edges)
