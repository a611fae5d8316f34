"""Feature circuits for one prediction, from SAEs at every layer's residual stream
(sparse feature circuits in the manner of Marks et al. 2024, linearised per edge).

1. Replacement model: after each block, the residual stream ``x_l`` is replaced by
   ``decode(f_l) + e_l``: ``f_l`` the SAE's features, recomputed from the stream, and
   ``e_l`` the SAE's error on the real input, held constant (an *error node*). Block
   ``l + 1`` then reads only layer ``l``'s features and error, so edges join adjacent
   layers, and the last layer's features feed the move logit.
2. Edge weight from source feature ``s`` (layer ``l``) to target ``t`` (a feature of layer
   ``l + 1``, or the logit): ``f_s * d t / d f_s`` in that replacement model (first order,
   as in attribution patching); an error node's weight is ``e . d t / d e``.
3. Pruning: keep the ``keep`` strongest sources of the logit, then, layer by layer down,
   the ``keep`` strongest sources of the kept nodes.
4. ``validate``: ablate each kept feature (set it to 0, recompute everything downstream in
   the replacement model) and compare the real change of the logit with the graph's
   prediction (the sum over paths of products of edge weights divided by source values,
   times minus the source's value): sign agreement and correlation.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from tqdm.auto import tqdm

from workbench.attribution.logit import logit_metric
from workbench.circuits.validation import VALIDATIONS, AttributionValidation, Validation
from workbench.files import read_json, write_json

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer


def _check_saes(model: HookedTransformer, saes: dict[int, SAE]) -> None:
    missing = [i for i in range(model.cfg.n_layers) if i not in saes]
    if missing:
        raise ValueError(
            f"Need an SAE at blocks.L.hook_resid_post for every layer; missing layers {missing}."
        )
    for layer, sae in saes.items():
        hook = sae.cfg.metadata.hook_name
        if hook != f"blocks.{layer}.hook_resid_post":
            raise ValueError(
                f"SAE for layer {layer} reads {hook}, not blocks.{layer}.hook_resid_post."
            )


@dataclass
class Node:
    layer: int  # n_layers for the logit
    position: int
    feature: int  # -1: error node; -2: the logit; -3: token embedding (layer -1)
    activation: float

    @property
    def label(self) -> str:
        if self.feature == -2:
            return "logit"
        if self.feature == -3:  # a token embedding (transcoder graphs): activation = token
            return f"emb {int(self.activation)} @{self.position}"
        kind = "err" if self.feature == -1 else f"F{self.feature}"
        return f"L{self.layer} {kind} @{self.position}"


@dataclass
class FeatureGraph:
    """A pruned circuit for one prediction: node 0 is the logit. Saves to and loads from
    JSON (``save`` / ``load``), its validation (if any) with it."""

    nodes: list[Node]
    edges: dict[tuple[int, int], float]  # (source index, target index) -> weight
    logit: float  # the metric on the real model
    replacement_logit: float  # the same in the replacement model (equal up to float error)
    error_share: float  # |error-node edges| / |all edges| into the logit
    seconds: float = 0.0
    validation: Validation | AttributionValidation | None = None  # set by the validators

    def incoming(self, target: int) -> list[tuple[int, float]]:
        return sorted(
            ((s, w) for (s, t), w in self.edges.items() if t == target), key=lambda x: -abs(x[1])
        )

    def to_dict(self) -> dict:
        """Plain JSON data: edges as ``[source, target, weight]`` triples."""
        validation = None
        if self.validation is not None:
            validation = {"kind": self.validation.kind, **self.validation.to_dict()}
        return {
            "nodes": [asdict(node) for node in self.nodes],
            "edges": [[s, t, w] for (s, t), w in self.edges.items()],
            "logit": self.logit,
            "replacement_logit": self.replacement_logit,
            "error_share": self.error_share,
            "seconds": self.seconds,
            "validation": validation,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureGraph:
        validation = data.get("validation")
        if validation is not None:
            validation = dict(validation)
            validation = VALIDATIONS[validation.pop("kind")].from_dict(validation)
        return cls(
            nodes=[Node(**node) for node in data["nodes"]],
            edges={(int(s), int(t)): float(w) for s, t, w in data["edges"]},
            logit=data["logit"],
            replacement_logit=data["replacement_logit"],
            error_share=data["error_share"],
            seconds=data.get("seconds", 0.0),
            validation=validation,
        )

    def save(self, path: str | Path) -> Path:
        """Write the graph as JSON (atomically); the path."""
        write_json(Path(path), self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> FeatureGraph:
        return cls.from_dict(read_json(Path(path), what="Feature graph"))


class NodeTable:
    """Graph nodes numbered in order of first use, found by (layer, position, feature);
    node 0 is the one the table starts with (the logit)."""

    def __init__(self, first: Node):
        self.nodes = [first]
        self.index = {(first.layer, first.position, first.feature): 0}

    def id(self, layer: int, pos: int, feat: int, value: float) -> int:
        key = (layer, pos, feat)
        if key not in self.index:
            self.index[key] = len(self.nodes)
            self.nodes.append(Node(layer, pos, feat, value))
        return self.index[key]


class ReplacementModel:
    """The model with every residual stream rebuilt from its SAE (see module doc, 1)."""

    def __init__(self, model: HookedTransformer, saes: dict[int, SAE], tokens: Tensor):
        _check_saes(model, saes)
        self.model, self.saes = model, saes
        self.tokens = torch.as_tensor(tokens).reshape(1, -1)
        names = [f"blocks.{i}.hook_resid_post" for i in saes]
        with torch.no_grad():
            self.clean_logits, cache = model.run_with_cache(self.tokens, names_filter=names)
            self.features = {}
            self.errors = {}
            for layer, sae in saes.items():
                x = cache[f"blocks.{layer}.hook_resid_post"][0].float()
                f = sae.encode(x)
                self.features[layer] = f
                self.errors[layer] = x - sae.decode(f)

    def resid(self, layer: int, features: Tensor) -> Tensor:
        return self.saes[layer].decode(features) + self.errors[layer]

    def run_from(self, layer: int, features: Tensor, *, to_layer: int | None = None):
        """Features of ``to_layer`` (or the logits, when None) given ``layer``'s features."""
        x = self.resid(layer, features)[None]
        for nxt in range(layer + 1, self.model.cfg.n_layers):
            x = self.model.blocks[nxt](x)
            f = self.saes[nxt].encode(x[0])
            if to_layer == nxt:
                return f
            x = self.resid(nxt, f)[None]
        return self.model.unembed(self.model.ln_final(x))


def build_graph(
    model: HookedTransformer,
    saes: dict[int, SAE],
    tokens: Tensor,
    position: int,
    move: int,
    *,
    versus: int | None = None,
    keep: int = 8,
    progress: bool = True,
) -> FeatureGraph:
    """The pruned feature graph of square ``move``'s logit (minus ``versus``'s) at ``position``
    (a progress bar per layer expanded, from the top down)."""
    start = time.perf_counter()
    metric = logit_metric(position, move, versus)
    rep = ReplacementModel(model, saes, tokens)
    last = model.cfg.n_layers - 1
    table = NodeTable(Node(model.cfg.n_layers, position, -2, 0.0))
    nodes, node_id = table.nodes, table.id
    edges: dict[tuple[int, int], float] = {}

    def sources(layer: int, target_fn) -> tuple[Tensor, Tensor]:
        """Edge weights from layer ``layer``'s features and errors into one target."""
        f = rep.features[layer].clone().requires_grad_(True)
        e = rep.errors[layer].clone().requires_grad_(True)
        saved = rep.errors[layer]
        rep.errors[layer] = e
        try:
            value = target_fn(f)
            gf, ge = torch.autograd.grad(value, [f, e], allow_unused=True)
        finally:
            rep.errors[layer] = saved
        feature_w = (f * gf).detach()[: position + 1]
        error_w = (e * ge).detach().sum(-1)[: position + 1] if ge is not None else None
        return feature_w, error_w

    def expand(target: int, layer: int, target_fn) -> list[int]:
        fw, ew = sources(layer, target_fn)
        flat = fw.flatten()
        top = torch.topk(flat.abs(), min(keep, int((flat != 0).sum())))
        kept = []
        for i in top.indices.tolist():
            pos, feat = divmod(i, fw.shape[1])
            src = node_id(layer, pos, feat, float(rep.features[layer][pos, feat]))
            edges[(src, target)] = float(flat[i])
            kept.append(src)
        for pos in range(position + 1):
            if ew is not None and abs(float(ew[pos])) > 1e-6:
                src = node_id(layer, pos, -1, 0.0)
                edges[(src, target)] = float(ew[pos])
        return kept

    bar = tqdm(total=last + 1, desc="feature graph", unit="layer", disable=not progress)
    frontier = expand(0, last, lambda f: metric(rep.run_from(last, f)))
    bar.update()
    for layer in range(last - 1, -1, -1):
        new = []
        for t in frontier:
            tn = nodes[t]

            def target_fn(f, tn=tn, layer=layer):
                return rep.run_from(layer, f, to_layer=tn.layer)[tn.position, tn.feature]

            new += expand(t, layer, target_fn)
        frontier = sorted(set(new))
        bar.update()
    bar.close()
    with torch.no_grad():
        replacement = float(metric(rep.run_from(last, rep.features[last])))
    return FeatureGraph(
        nodes=nodes,
        edges=edges,
        logit=float(metric(rep.clean_logits)),
        replacement_logit=replacement,
        error_share=error_share(nodes, edges),
        seconds=time.perf_counter() - start,
    )


def error_share(nodes: list[Node], edges: dict[tuple[int, int], float]) -> float:
    """|error-node edges| / |all edges| into the logit (node 0)."""
    into_logit = [(s, w) for (s, t), w in edges.items() if t == 0]
    total = sum(abs(w) for _, w in into_logit) or 1.0
    return sum(abs(w) for s, w in into_logit if nodes[s].feature == -1) / total


def per_unit_effects(graph: FeatureGraph, target: int = 0) -> dict[int, float]:
    """d target / d (feature node's value) along the graph's edges (every path, linear).

    Per unit of a source, an edge carries ``w / f_source``; nodes are visited from the top
    layer down, so every target of a node is done before the node.
    """
    per_unit = {target: 1.0}
    limit = graph.nodes[target].layer
    order = sorted(range(len(graph.nodes)), key=lambda i: -graph.nodes[i].layer)
    for i in order:
        node = graph.nodes[i]
        if i == target or node.layer >= limit or node.feature < 0 or node.activation == 0:
            continue
        total = sum(
            w / node.activation * per_unit[t]
            for (s, t), w in graph.edges.items()
            if s == i and t in per_unit
        )
        per_unit[i] = total
    return per_unit


def predicted_ablation_effects(graph: FeatureGraph, target: int = 0) -> dict[int, float]:
    """Linearised change of ``target`` (default: the logit) when each feature node is set
    to zero: ``-f`` times the node's per-unit effect (``per_unit_effects``)."""
    per_unit = per_unit_effects(graph, target)
    return {
        i: -graph.nodes[i].activation * v
        for i, v in per_unit.items()
        if i != target and graph.nodes[i].feature >= 0
    }


def validate(
    graph: FeatureGraph,
    model: HookedTransformer,
    saes: dict[int, SAE],
    tokens: Tensor,
    position: int,
    move: int,
    *,
    versus: int | None = None,
    top: int = 10,
    progress: bool = True,
) -> Validation:
    """Ablate the ``top`` feature nodes with the largest predicted effect; compare.
    ``progress``: a bar over the ablations."""
    rep = ReplacementModel(model, saes, tokens)
    metric = logit_metric(position, move, versus)
    predicted = predicted_ablation_effects(graph)
    chosen = sorted(predicted, key=lambda i: -abs(predicted[i]))[:top]
    rows = []
    with torch.no_grad():
        base = float(metric(rep.run_from(0, rep.features[0])))
        for i in tqdm(chosen, desc="ablating nodes", unit="node", disable=not progress):
            node = graph.nodes[i]
            f = rep.features[node.layer].clone()
            f[node.position, node.feature] = 0
            actual = float(metric(rep.run_from(node.layer, f))) - base
            rows.append({"node": node.label, "predicted": predicted[i], "actual": actual})
    agree = [r for r in rows if r["predicted"] * r["actual"] > 0]
    pred = torch.tensor([r["predicted"] for r in rows])
    act = torch.tensor([r["actual"] for r in rows])
    corr = float(torch.corrcoef(torch.stack([pred, act]))[0, 1]) if len(rows) > 2 else float("nan")
    graph.validation = Validation(
        sign_agreement=len(agree) / max(len(rows), 1), correlation=corr, rows=rows
    )
    return graph.validation
