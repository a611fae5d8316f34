"""Attribute a move's logit to the parts of the model: layers, heads, neurons, SAE features.

Direct logit attribution (DLA), exact given the final LayerNorm's scale:

1. Run the model once, caching only what the chosen decomposition needs.
2. The residual stream at the last layer is a sum of parts (embeddings, each head's
   output, each MLP's output, or each neuron's ``act * W_out`` row, or an SAE's features
   plus its error). With the final LayerNorm's scale frozen at its value on this input,
   the logit of move ``m`` is linear in that sum:
   ``logit_m = sum_i ((x_i - mean x_i) / scale * w_ln) . W_U[:, m] + (b_ln . W_U[:, m] + b_U[m])``.
3. Each part's term is its direct attribution; with the constant they sum to the logit
   exactly (tested). A logit *difference* between two moves is attributed the same way.

Gradient x activation and integrated gradients (to neurons and SAE features) measure
total, not direct, effects: ``grad_x_act`` is the first-order term; ``integrated_gradients``
integrates the gradient from a baseline (zero) to the activation, so its attributions sum
to the change of the metric (completeness, checked within tolerance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.activations import hook_layer, validate_hooks
from workbench.othello.tokens import SQUARE_TO_TOKEN

if TYPE_CHECKING:  # sae-lens is needed only when an SAE is passed in
    from sae_lens import SAE
    from transformer_lens import HookedTransformer


@dataclass
class Attribution:
    """Attributions with a label for each part; ``constant`` completes the sum."""

    values: Float[Tensor, " part"]
    labels: list[str]
    target: float  # the attributed metric (logit or logit difference)
    constant: float  # the part of the metric no component owns (biases)

    def top(self, n: int = 10) -> list[tuple[str, float]]:
        order = self.values.abs().argsort(descending=True)[:n]
        return [(self.labels[i], float(self.values[i])) for i in order]

    def by_prefix(self) -> dict[str, float]:
        """Sums over parts sharing a label prefix (e.g. all heads of layer 3: ``L3``)."""
        out: dict[str, float] = {}
        for label, v in zip(self.labels, self.values.tolist(), strict=True):
            key = label.split(".")[0]
            out[key] = out.get(key, 0.0) + v
        return out


def _move_direction(model: HookedTransformer, move: int, versus: int | None) -> Tensor:
    """Unembedding direction of square ``move`` (minus ``versus``'s, if given)."""
    d = model.W_U[:, SQUARE_TO_TOKEN[move]]
    if versus is not None:
        d = d - model.W_U[:, SQUARE_TO_TOKEN[versus]]
    return d.detach().float()


def _direct(model, parts: Tensor, scale: Tensor, direction: Tensor) -> Tensor:
    """Direct effect of each residual part (part, d_model) through the frozen final LN."""
    centred = parts - parts.mean(-1, keepdim=True)
    w = model.ln_final.w.detach().float() if model.cfg.normalization_type == "LN" else 1.0
    return ((centred / scale) * w) @ direction


def direct_logit_attribution(
    model: HookedTransformer,
    tokens: Int[Tensor, " pos"],
    position: int,
    move: int,
    *,
    versus: int | None = None,
    level: str = "heads",
    sae: SAE | None = None,
) -> Attribution:
    """DLA of square ``move``'s logit (minus ``versus``'s) at ``position``.

    ``level``: ``"layers"`` (embeddings, attention and MLP of each layer), ``"heads"``
    (each head, each MLP), ``"neurons"`` (each MLP neuron; attention as whole layers), or
    ``"sae"`` (an SAE at ``sae``'s residual hook: its features, its error term and, for
    the layers after the hook, heads and MLPs).
    """
    if level not in ("layers", "heads", "neurons", "sae"):
        raise ValueError(f"level must be 'layers', 'heads', 'neurons' or 'sae', got {level!r}.")
    if level == "sae" and sae is None:
        raise ValueError("level='sae' needs sae=<an SAE on a residual-stream hook>.")
    tokens = torch.as_tensor(tokens).reshape(1, -1)
    n_layers = model.cfg.n_layers
    names = ["hook_embed", "hook_pos_embed", "ln_final.hook_scale"]
    names += [f"blocks.{i}.attn.hook_z" for i in range(n_layers)]
    names += [f"blocks.{i}.hook_mlp_out" for i in range(n_layers)]
    names += [f"blocks.{i}.mlp.hook_post" for i in range(n_layers)] if level == "neurons" else []
    start_layer = 0
    if level == "sae":
        hook = sae.cfg.metadata.hook_name
        validate_hooks(model, [hook])
        if not hook.endswith(("hook_resid_post", "hook_resid_pre")):
            raise ValueError(f"level='sae' needs an SAE on a residual-stream hook, not {hook}.")
        layer = hook_layer(hook)
        start_layer = layer + 1 if hook.endswith("hook_resid_post") else layer
        names.append(hook)
    with torch.no_grad():
        all_logits, cache = model.run_with_cache(tokens, names_filter=names)
    p = position
    scale = cache["ln_final.hook_scale"][0, p].float()
    direction = _move_direction(model, move, versus)
    parts: list[Tensor] = []
    labels: list[str] = []

    def add(vectors: Tensor, names_: list[str]) -> None:
        parts.append(vectors.float())
        labels.extend(names_)

    if level == "sae":
        x = cache[hook][0, p].float()
        with torch.no_grad():
            acts = sae.encode(x[None])[0]
            recon = sae.decode(acts[None])[0]
        active = acts.nonzero().flatten()
        add(acts[active, None] * sae.W_dec[active].detach().float(), [f"F{int(i)}" for i in active])
        add((sae.b_dec.detach().float() + (x - recon))[None], ["sae error + b_dec"])
    else:
        add(cache["hook_embed"][0, p][None], ["embed"])
        add(cache["hook_pos_embed"][0, p][None], ["pos_embed"])
    for i in range(start_layer, n_layers):
        z = cache[f"blocks.{i}.attn.hook_z"][0, p].float()  # head, d_head
        W_O = model.W_O[i].detach().float()  # head, d_head, d_model
        heads = torch.einsum("hd,hdm->hm", z, W_O)
        if level in ("heads", "sae"):
            add(heads, [f"L{i}.H{h}" for h in range(model.cfg.n_heads)])
        else:
            add(heads.sum(0, keepdim=True), [f"L{i}.attn"])
        if level == "neurons":
            post = cache[f"blocks.{i}.mlp.hook_post"][0, p].float()
            add(
                post[:, None] * model.W_out[i].detach().float(),
                [f"L{i}.N{n}" for n in range(len(post))],
            )
        else:
            add(cache[f"blocks.{i}.hook_mlp_out"][0, p][None], [f"L{i}.mlp"])
    values = torch.cat([_direct(model, v, scale, direction) for v in parts])
    # Biases: attention output biases, MLP output biases (in hook_mlp_out already), LN bias.
    bias = sum(model.b_O[i].detach().float() for i in range(start_layer, n_layers))
    if level == "neurons":  # hook_mlp_out holds b_out; neuron rows do not
        bias = bias + sum(model.b_out[i].detach().float() for i in range(n_layers))
    bias_term = float(_direct(model, bias[None], scale, direction)[0])
    constant = bias_term + _unembed_constant(model, move, versus)
    logits = all_logits[0, p]
    target = logits[SQUARE_TO_TOKEN[move]] - (
        0 if versus is None else logits[SQUARE_TO_TOKEN[versus]]
    )
    return Attribution(values, labels, float(target), constant)


def _unembed_constant(model: HookedTransformer, move: int, versus: int | None) -> float:
    b_ln = model.ln_final.b.detach().float() if model.cfg.normalization_type == "LN" else 0.0
    direction = _move_direction(model, move, versus)
    b_U = model.b_U.detach().float()
    b = b_U[SQUARE_TO_TOKEN[move]] - (0 if versus is None else b_U[SQUARE_TO_TOKEN[versus]])
    return float((b_ln * direction).sum() + b)


Metric = Callable[[Float[Tensor, "batch pos d_vocab"]], Float[Tensor, ""]]


def logit_metric(position: int, move: int, versus: int | None = None) -> Metric:
    """The logit of square ``move`` (minus ``versus``'s) at ``position``, summed over the batch."""

    def metric(logits):
        out = logits[:, position, SQUARE_TO_TOKEN[move]]
        if versus is not None:
            out = out - logits[:, position, SQUARE_TO_TOKEN[versus]]
        return out.sum()

    return metric


def _scaling_hook(alpha: Tensor, holder: dict, sae: SAE | None):
    """A hook that scales row ``i`` of the activation (or of the SAE's features) by
    ``alpha[i]`` and keeps a differentiable leaf for it in ``holder``; the SAE's error term
    is left unscaled."""

    def hook_fn(act, hook):
        scale = alpha.view(-1, *([1] * (act.dim() - 1)))
        if sae is None:
            leaf = (act.detach() * scale.to(act.dtype)).requires_grad_(True)
            holder["leaf"], holder["act"] = leaf, act.detach()
            return leaf
        with torch.no_grad():
            feats = sae.encode(act.float())
            error = act.float() - sae.decode(feats)
        leaf = (feats * scale).requires_grad_(True)
        holder["leaf"], holder["act"] = leaf, feats
        return (sae.decode(leaf) + error).to(act.dtype)

    return hook_fn


def _run_scaled(
    model,
    tokens,
    hook,
    metric,
    alphas,
    sae: SAE | None,
    *,
    grad: bool = True,
    batch: int = 32,
    progress: bool = False,
):
    """Metric (and, if ``grad``, its gradient) w.r.t. the activation (or SAE features) at
    ``hook``, with that activation scaled by each alpha (alpha 1: the real run).

    Up to ``batch`` alphas run as one batch (the tokens repeated, each copy scaled by its
    own alpha; a copy's metric depends on its own rows only, so the gradient of their sum
    holds each copy's gradient)."""
    validate_hooks(model, [hook])
    n = tokens.shape[0]
    grads, values, holder = [], [], {}
    starts = range(0, len(alphas), batch)
    for start in tqdm(starts, desc="integrated gradients", unit="batch", disable=not progress):
        chunk = alphas[start : start + batch]
        scale = torch.tensor(chunk, dtype=torch.float32).repeat_interleave(n)
        with (
            torch.set_grad_enabled(grad),
            model.hooks(fwd_hooks=[(hook, _scaling_hook(scale, holder, sae))]),
        ):
            logits = model(tokens.repeat(len(chunk), *([1] * (tokens.dim() - 1))))
            per_alpha = [metric(logits[k * n : (k + 1) * n]) for k in range(len(chunk))]
        if grad:
            grads += list(torch.autograd.grad(sum(per_alpha), holder["leaf"])[0].split(n))
        values += [float(v.detach()) for v in per_alpha]
    return holder["act"][:n], grads, values


def grad_x_act(
    model: HookedTransformer, tokens: Tensor, hook: str, metric: Metric, *, sae: SAE | None = None
) -> Float[Tensor, "batch pos unit"]:
    """Gradient x activation of ``metric`` for every unit at ``hook`` (or SAE feature)."""
    act, grads, _ = _run_scaled(model, torch.as_tensor(tokens), hook, metric, [1.0], sae)
    return (act * grads[0]).detach()


def integrated_gradients(
    model: HookedTransformer,
    tokens: Tensor,
    hook: str,
    metric: Metric,
    *,
    sae: SAE | None = None,
    steps: int = 64,
    progress: bool = True,
) -> tuple[Float[Tensor, "batch pos unit"], float]:
    """Integrated gradients from zero to the activation (midpoint rule, ``steps`` points).

    Near zero the final LayerNorm makes the integrand sharp: check completeness (the
    returned change) and raise ``steps`` until the attributions sum to it.

    Returns the attributions and the change of the metric they should sum to
    (metric(real) - metric(activation zeroed)).
    """
    alphas = [(k + 0.5) / steps for k in range(steps)]
    tokens = torch.as_tensor(tokens)
    act, grads, _ = _run_scaled(model, tokens, hook, metric, alphas, sae, progress=progress)
    attributions = act * torch.stack(grads).mean(0)
    _, _, ends = _run_scaled(
        model, torch.as_tensor(tokens), hook, metric, [0.0, 1.0], sae, grad=False
    )
    return attributions.detach(), ends[1] - ends[0]
