import json
import math

import numpy as np
import pytest

from workbench.circuits.graph import FeatureGraph, Node
from workbench.circuits.validation import Agreement, AttributionValidation, Validation


def _graph(validation=None) -> FeatureGraph:
    nodes = [
        Node(layer=2, position=12, feature=-2, activation=1.5),
        Node(layer=1, position=12, feature=7, activation=0.25),
        Node(layer=1, position=11, feature=-1, activation=0.0),
        Node(layer=-1, position=3, feature=-3, activation=42.0),
    ]
    edges = {(1, 0): 0.75, (2, 0): -0.125, (3, 1): 1e-7}
    return FeatureGraph(nodes, edges, 1.5, 1.4999, 0.1, seconds=2.5, validation=validation)


def _rows(pairs):
    return [{"node": f"n{i}", "predicted": p, "actual": a} for i, (p, a) in enumerate(pairs)]


def test_agreement_matches_a_direct_computation():
    pairs = [(0.5, 0.4), (-0.2, 0.1), (1.0, 2.0), (-0.3, -0.1)]
    got = Agreement.of(_rows(pairs))
    pred, act = np.array(pairs).T
    assert got.n == 4 and got.sign_agreement == pytest.approx(np.mean(pred * act > 0))
    assert got.correlation == pytest.approx(np.corrcoef(pred, act)[0, 1], rel=1e-5)
    assert math.isnan(Agreement.of(_rows(pairs[:2])).correlation)  # under three pairs
    empty = Agreement.of([])
    assert empty.n == 0 and math.isnan(empty.sign_agreement)


@pytest.mark.parametrize(
    "validation",
    [
        None,
        Validation(sign_agreement=0.5, correlation=float("nan"), rows=_rows([(1.0, 2.0)])),
        AttributionValidation(
            logit=Agreement.of(_rows([(1.0, 2.0), (-1.0, 1.0), (0.5, 0.2)])),
            features=Agreement.of([]),
            rows=_rows([(1.0, 2.0), (-1.0, 1.0), (0.5, 0.2)]),
            feature_rows=[{"source": "a", "target": "b", "predicted": 0.1, "actual": 0.2}],
        ),
    ],
)
def test_a_feature_graph_saves_and_loads_with_its_validation(tmp_path, validation):
    graph = _graph(validation)
    path = graph.save(tmp_path / "graph.json")
    json.loads(path.read_text())  # plain JSON
    loaded = FeatureGraph.load(path)
    assert loaded.nodes == graph.nodes and loaded.edges == graph.edges
    assert (loaded.logit, loaded.replacement_logit, loaded.error_share, loaded.seconds) == (
        1.5, 1.4999, 0.1, 2.5,
    )  # fmt: skip
    assert type(loaded.validation) is type(validation)
    if validation is not None:  # NaN != NaN: compare the JSON forms
        assert json.dumps(loaded.validation.to_dict()) == json.dumps(validation.to_dict())
    assert loaded.incoming(0) == graph.incoming(0)


def test_results_still_read_as_the_dicts_they_were():
    check = Validation(sign_agreement=1.0, correlation=0.5, rows=_rows([(1.0, 1.0)]))
    assert check["sign_agreement"] == 1.0 and check["rows"][0]["node"] == "n0"
    both = AttributionValidation(
        logit=Agreement(n=3, sign_agreement=1.0, correlation=0.9),
        features=Agreement(n=0, sign_agreement=float("nan"), correlation=float("nan")),
    )
    assert both["logit"]["n"] == 3 and both["features"]["n"] == 0
    with pytest.raises(KeyError):
        check["nope"]
