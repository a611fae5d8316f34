"""Attribution graphs from per-layer transcoders, in the manner of circuit-tracer.

1. Clean run: record every LayerNorm scale, every attention pattern and every MLP's
   input and output. Each layer's transcoder encodes its MLP input into features
   ``a_l``; the MLP's output is ``decode(a_l) (+ skip path) + e_l``, with ``e_l`` the
   transcoder's error on this prompt, held constant (an *error node*).
2. Replacement model: the same forward pass with the LayerNorm scales and attention
   patterns frozen at their clean values, each MLP replaced by its transcoder's output
   from the *fixed* feature values ``a_l`` plus ``e_l``, and the embeddings a fixed input.
   Every quantity is then linear in the nodes (features, errors, embeddings), so the
   direct effect of a source on a target is exact: ``a_s * d target / d a_s`` with all
   other nodes held, the path running through the residual stream, attention (values
   and outputs; patterns frozen) and skip paths, never through another feature.
3. Targets: a feature's pre-activation (its encoder read of the frozen-normalised MLP
   input), or the logit (difference) of the prediction. One backward pass per target
   gives its edges from every earlier node.
4. Pruning: from the logit, keep the ``keep`` strongest feature inputs of each node
   (any earlier layer), expanding nodes until ``max_nodes``; error and embedding inputs
   are recorded but not expanded. ``prune_by_influence`` then keeps the smallest set of
   feature nodes whose total influence on the logit (the sum over all graph paths, as
   circuit-tracer's influence) covers a chosen fraction of the whole.
5. Validation: in the *local replacement model* (frozen attention and LayerNorm, errors
   held, features recomputed by the transcoders from their inputs, ReLU included),
   ablate one feature and measure the logit and the kept downstream features; the graph
   predicts the same changes by propagating ``-a_s`` along its edges (linear, no ReLU).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from tqdm.auto import tqdm

from workbench.activations import hook_layer
from workbench.circuits.graph import (
    FeatureGraph,
    Node,
    NodeTable,
    error_share,
    predicted_ablation_effects,
)
from workbench.circuits.transcoders import reconstruct, transcoder_hooks
from workbench.circuits.validation import Agreement, AttributionValidation

if TYPE_CHECKING:
    from sae_lens.saes.transcoder import Transcoder
    from transformer_lens import HookedTransformer

EMBEDDING = -3  # Node.feature of a token-embedding node (layer -1)
Metric = Callable[[Tensor], Tensor]


def _check(model: HookedTransformer, transcoders: dict[int, Transcoder]) -> None:
    missing = [layer for layer in range(model.cfg.n_layers) if layer not in transcoders]
    if missing:
        raise ValueError(f"Need a transcoder for every layer's MLP; missing layers {missing}.")
    for layer, tc in transcoders.items():
        hook_in, hook_out = transcoder_hooks(layer)
        meta = tc.cfg.metadata
        if (meta.hook_name, getattr(meta, "hook_name_out", None)) != (hook_in, hook_out):
            raise ValueError(
                f"The transcoder for layer {layer} maps {meta.hook_name} -> "
                f"{getattr(meta, 'hook_name_out', None)}, not {hook_in} -> {hook_out}."
            )
        if tc.cfg.apply_b_dec_to_input:
            raise ValueError("Transcoders with apply_b_dec_to_input are not supported.")


class LocalReplacement:
    """The model on one prompt with attention patterns and LayerNorm scales frozen and
    every MLP replaced by its transcoder plus a constant error (see module doc)."""

    def __init__(self, model: HookedTransformer, transcoders: dict[int, Transcoder], tokens):
        _check(model, transcoders)
        self.model, self.transcoders = model, transcoders
        self.tokens = torch.as_tensor(tokens).reshape(1, -1)
        n = model.cfg.n_layers
        frozen = [f"blocks.{i}.attn.hook_pattern" for i in range(n)]
        frozen += [name for name in model.hook_dict if name.endswith("hook_scale")]
        ios = [h for i in range(n) for h in transcoder_hooks(i)]
        with torch.no_grad():
            self.clean_logits, cache = model.run_with_cache(
                self.tokens, names_filter=frozen + ios + ["blocks.0.hook_resid_pre"]
            )
        self.frozen = {name: cache[name].detach() for name in frozen}
        self.embedding = cache["blocks.0.hook_resid_pre"][0].detach()  # pos d_model
        self.features, self.errors = {}, {}
        with torch.no_grad():
            for layer, tc in transcoders.items():
                hook_in, hook_out = transcoder_hooks(layer)
                x = cache[hook_in][0].float()
                f = tc.encode(x)
                self.features[layer] = f
                self.errors[layer] = cache[hook_out][0].float() - reconstruct(tc, x, f)

    def run(
        self,
        features: dict[int, Tensor] | None = None,
        *,
        errors: dict[int, Tensor] | None = None,
        embedding: Tensor | None = None,
        recompute: bool = False,
        overrides: dict[tuple[int, int, int], float] | None = None,
    ) -> tuple[Tensor, dict[int, Tensor], dict[int, Tensor]]:
        """Logits, MLP inputs and features by layer.

        ``recompute=False``: the features are the given (or clean) values, fixed: the linear
        replacement in which edges are gradients. ``recompute=True``: each layer's features
        are encoded from its MLP input (ReLU included), then ``overrides`` ((layer,
        position, feature) -> value) are applied: the model ablations are run in.
        """
        features = features or self.features
        errors = errors or self.errors
        embedding = self.embedding if embedding is None else embedding
        inputs: dict[int, Tensor] = {}
        used: dict[int, Tensor] = {}

        def freeze(value, hook):
            return self.frozen[hook.name]

        def set_embedding(value, hook):
            return embedding[None].to(value.dtype)

        def record_input(value, hook):
            inputs[hook_layer(hook.name)] = value[0]
            return value

        def replace_mlp(value, hook):
            layer = hook_layer(hook.name)
            tc, x = self.transcoders[layer], inputs[layer].float()
            f = tc.encode(x) if recompute else features[layer]
            for (lay, pos, feat), v in (overrides or {}).items():
                if lay == layer:
                    f = f.clone()
                    f[pos, feat] = v
            used[layer] = f
            return (reconstruct(tc, x, f) + errors[layer])[None].to(value.dtype)

        hooks = [(name, freeze) for name in self.frozen]
        hooks.append(("blocks.0.hook_resid_pre", set_embedding))
        for layer in range(self.model.cfg.n_layers):
            hook_in, hook_out = transcoder_hooks(layer)
            hooks += [(hook_in, record_input), (hook_out, replace_mlp)]
        with self.model.hooks(fwd_hooks=hooks):
            logits = self.model(self.tokens)
        return logits, inputs, used

    def preactivation(self, inputs: dict[int, Tensor], layer: int, pos: int, feat: int) -> Tensor:
        tc = self.transcoders[layer]
        return inputs[layer][pos].float() @ tc.W_enc[:, feat] + tc.b_enc[feat]


def build_attribution_graph(
    model: HookedTransformer,
    transcoders: dict[int, Transcoder],
    tokens,
    metric: Metric,
    position: int,
    *,
    keep: int = 6,
    max_nodes: int = 40,
    progress: bool = True,
) -> FeatureGraph:
    """The pruned attribution graph of ``metric`` (e.g. ``attribution.logit_metric``),
    read at ``position``, through the transcoders' features (see module doc). A progress
    bar counts the nodes expanded (one backward pass each)."""
    start = time.perf_counter()
    rep = LocalReplacement(model, transcoders, tokens)
    n_layers = model.cfg.n_layers
    table = NodeTable(Node(n_layers, position, -2, 0.0))
    nodes, node_id = table.nodes, table.id
    edges: dict[tuple[int, int], float] = {}

    def sources(target: Node) -> list[int]:
        """Edges into ``target`` from every earlier node; returns the strongest features."""
        feats = {k: f.clone().requires_grad_(True) for k, f in rep.features.items()}
        errs = {k: e.clone().requires_grad_(True) for k, e in rep.errors.items()}
        emb = rep.embedding.clone().requires_grad_(True)
        logits, inputs, _ = rep.run(feats, errors=errs, embedding=emb)
        if target.feature == -2:
            value = metric(logits)
        else:
            value = rep.preactivation(inputs, target.layer, target.position, target.feature)
        earlier = list(range(min(target.layer, n_layers)))
        grads = torch.autograd.grad(
            value,
            [feats[k] for k in earlier] + [errs[k] for k in earlier] + [emb],
            allow_unused=True,
        )
        t = table.index[(target.layer, target.position, target.feature)]
        candidates = []
        for k, layer in enumerate(earlier):
            g_f, g_e = grads[k], grads[len(earlier) + k]
            if g_f is not None:
                w = (rep.features[layer] * g_f)[: target.position + 1]
                for pos, feat in (w != 0).nonzero().tolist():
                    candidates.append((float(w[pos, feat]), layer, pos, feat))
            if g_e is not None:
                w_err = (rep.errors[layer] * g_e).sum(-1)[: target.position + 1]
                for pos in range(target.position + 1):
                    if abs(float(w_err[pos])) > 1e-6:
                        edges[(node_id(layer, pos, -1, 0.0), t)] = float(w_err[pos])
        if grads[-1] is not None:
            w_emb = (rep.embedding * grads[-1]).sum(-1)[: target.position + 1]
            for pos in range(target.position + 1):
                if abs(float(w_emb[pos])) > 1e-6:
                    token = int(rep.tokens[0, pos])
                    edges[(node_id(-1, pos, EMBEDDING, float(token)), t)] = float(w_emb[pos])
        candidates.sort(key=lambda c: -abs(c[0]))
        kept = []
        for w, layer, pos, feat in candidates[:keep]:
            src = node_id(layer, pos, feat, float(rep.features[layer][pos, feat]))
            edges[(src, t)] = w
            kept.append(src)
        return kept

    bar = tqdm(total=max_nodes + 1, desc="attribution graph", unit="node", disable=not progress)
    queue = sources(nodes[0])
    bar.update()
    expanded = set()
    while queue and len(expanded) < max_nodes:
        queue.sort(key=lambda i: -nodes[i].layer)  # expand from the top down
        i = queue.pop(0)
        if i in expanded:
            continue
        expanded.add(i)
        queue += [s for s in sources(nodes[i]) if s not in expanded]
        bar.update()
    bar.total = bar.n  # fewer nodes to expand than max_nodes: done, not cut short
    bar.close()
    with torch.no_grad():
        replacement = float(metric(rep.run()[0]))
    return FeatureGraph(
        nodes=nodes,
        edges=edges,
        logit=float(metric(rep.clean_logits)),
        replacement_logit=replacement,
        error_share=error_share(nodes, edges),
        seconds=time.perf_counter() - start,
    )


def influence(graph: FeatureGraph) -> dict[int, float]:
    """Each feature node's total influence on the logit: |a_i * sum over paths of the
    products of (edge weight / source activation)|, i.e. the size of its linearised
    ablation effect through every path of the graph."""
    return {i: abs(v) for i, v in predicted_ablation_effects(graph).items()}


def prune_by_influence(graph: FeatureGraph, fraction: float = 0.8) -> FeatureGraph:
    """The subgraph of the most influential feature nodes that together carry
    ``fraction`` of the total influence on the logit, with the logit, and the error and
    embedding nodes that feed what is kept."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    scores = influence(graph)
    total = sum(scores.values()) or 1.0
    kept, running = {0}, 0.0
    for i in sorted(scores, key=lambda i: -scores[i]):
        if running >= fraction * total:
            break
        kept.add(i)
        running += scores[i]
    kept |= {s for (s, t) in graph.edges if t in kept and graph.nodes[s].feature < 0}
    order = sorted(kept)
    new = {old: k for k, old in enumerate(order)}
    return FeatureGraph(
        nodes=[graph.nodes[i] for i in order],
        edges={(new[s], new[t]): w for (s, t), w in graph.edges.items() if s in new and t in new},
        logit=graph.logit,
        replacement_logit=graph.replacement_logit,
        error_share=graph.error_share,
        seconds=graph.seconds,
    )


def validate_attribution_graph(
    graph: FeatureGraph,
    model: HookedTransformer,
    transcoders: dict[int, Transcoder],
    tokens,
    metric: Metric,
    *,
    top: int = 10,
    progress: bool = True,
) -> AttributionValidation:
    """Ablate the ``top`` features with the largest predicted effect on the logit in the
    local replacement model (features recomputed, ReLU on); compare with the graph, for
    the logit and for each kept downstream feature. ``progress``: a bar over the ablations."""
    rep = LocalReplacement(model, transcoders, tokens)
    predicted = predicted_ablation_effects(graph)
    chosen = sorted(predicted, key=lambda i: -abs(predicted[i]))[:top]
    with torch.no_grad():
        base_logits, base_inputs, _ = rep.run(recompute=True)
        base = float(metric(base_logits))
    rows, feature_rows = [], []
    per_target: dict[int, dict[int, float]] = {}  # predicted effects on each target, once
    for i in tqdm(chosen, desc="ablating features", unit="feature", disable=not progress):
        node = graph.nodes[i]
        with torch.no_grad():
            logits, inputs, _ = rep.run(
                recompute=True, overrides={(node.layer, node.position, node.feature): 0.0}
            )
        rows.append(
            {"node": node.label, "predicted": predicted[i], "actual": float(metric(logits)) - base}
        )
        for s, t in graph.edges:
            if s != i or t == 0:
                continue
            target = graph.nodes[t]
            with torch.no_grad():
                before = rep.preactivation(base_inputs, *_site(target))
                after = rep.preactivation(inputs, *_site(target))
            if t not in per_target:
                per_target[t] = predicted_ablation_effects(graph, t)
            feature_rows.append(
                {
                    "source": node.label,
                    "target": target.label,
                    "predicted": per_target[t].get(i, 0.0),
                    "actual": float(after - before),
                }
            )
    graph.validation = AttributionValidation(
        logit=Agreement.of(rows),
        features=Agreement.of(feature_rows),
        rows=rows,
        feature_rows=feature_rows,
    )
    return graph.validation


def _site(node: Node) -> tuple[int, int, int]:
    return node.layer, node.position, node.feature
