"""Evaluate SAEs: sae-lens's standard figures and the board-grounded ones, side by side
with MLP neurons, probes and random-init SAEs.

Standard (on held-out games): L0 (active features per position), explained variance of
the reconstruction, next-move loss recovered when the SAE's reconstruction replaces the
activation ((L_zero - L_sae) / (L_zero - L_clean), with L the cross-entropy against the
exact legal-move distribution the model was trained on, and L_zero with the site
zero-ablated), and dead features (never active on the evaluation games).
Board-grounded: coverage and reconstruction from ``saes.board``, with the chance level
next to them: a feature that fires at every position, whose F1 for a property held on a
fraction p of positions is 2p / (1 + p). Coverage rewards density on common properties
(an empty square early in the game), so a sparse feature can fall below it there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, TypeAlias

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from tqdm.auto import tqdm

from workbench.activations import Activations, Labels, harvest, hook_layer
from workbench.evaluation import SAE_EVAL_SEED, held_out_games
from workbench.models.config import random_init_twin, require_othello_model
from workbench.models.registry import load_model
from workbench.othello.engine import GameRecord
from workbench.othello.tokens import model_inputs, next_move_targets
from workbench.probes.probe import ProbeSuite
from workbench.provenance import RunRecord
from workbench.saes.board import (
    RELATIVE,
    FeatureScores,
    board_properties,
    positions_game_index,
    reconstruct_board,
    score_features,
    second_half_of_games,
    union_coverage,
)
from workbench.saes.loading import check_compatible, load_saes_by_layer, trained_architecture

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer

NEURONS_ROW, RANDOM_INIT_ROW = "MLP neurons", "SAE on a random-init model"  # row names
SAESites: TypeAlias = "Mapping[str, SAE] | Sequence[tuple[str, SAE]]"  # hook -> SAE, or pairs
EVAL_SEED = SAE_EVAL_SEED  # evaluation games: never the training stream's (seed, chunk) pairs


def eval_games(n_games: int = 300, seed: int | None = None) -> GameRecord:
    """``held_out_games(n_games, seed=seed, kind="saes")``: the SAE evaluation set (seed
    ``EVAL_SEED``); another ``seed`` gives an independent set, to see whether a margin holds
    on other games."""
    return held_out_games(n_games, seed=seed, kind="saes")


@dataclass
class SAEMetrics:
    l0: float
    explained_variance: float
    loss_clean: float
    loss_sae: float
    loss_zero: float
    loss_recovered: float
    dead_fraction: float
    d_sae: int

    @classmethod
    def measure(
        cls,
        x: Float[Tensor, "n d_in"],
        features: Float[Tensor, "n d_sae"],
        reconstruction: Float[Tensor, "n d_in"],
        *,
        loss_clean: float,
        loss_sae: float,
        loss_zero: float,
    ) -> SAEMetrics:
        """The figures from an SAE's encoding of ``x`` and the three spliced losses."""
        ev = 1 - ((x - reconstruction) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
        return cls(
            l0=float((features > 0).float().sum(-1).mean()),
            explained_variance=float(ev),
            loss_clean=loss_clean,
            loss_sae=loss_sae,
            loss_zero=loss_zero,
            loss_recovered=(loss_zero - loss_sae) / (loss_zero - loss_clean),
            dead_fraction=float((features > 0).sum(0).eq(0).float().mean()),
            d_sae=features.shape[-1],
        )


def _next_move_loss(model: HookedTransformer, games: GameRecord, fwd_hooks=()) -> float:
    require_othello_model(model)
    tokens = torch.from_numpy(model_inputs(games))
    legal = torch.from_numpy(next_move_targets(games))
    mask = legal.any(-1)
    targets = legal.float() / legal.sum(-1, keepdim=True).clamp(min=1)
    with torch.no_grad(), model.hooks(fwd_hooks=list(fwd_hooks)):
        log_probs = model(tokens).float().log_softmax(-1)
    return float((-(targets * log_probs).sum(-1))[mask].mean())


def zero_ablation_loss(model: HookedTransformer, games: GameRecord, hook: str) -> float:
    """The next-move loss with ``hook`` zeroed: "loss recovered"'s floor at that site."""
    return _next_move_loss(model, games, [(hook, lambda value, hook: torch.zeros_like(value))])


def encode_positions(sae: SAE, acts: Activations, hook: str) -> Float[Tensor, "n d_sae"]:
    """SAE feature activations at every valid position (flattened like ``board_properties``)."""
    with torch.no_grad():
        return sae.encode(acts.flat(hook)[0].float())


def sae_metrics(
    model: HookedTransformer,
    sae: SAE,
    games: GameRecord,
    *,
    hook: str | None = None,
    acts: Activations | None = None,
    losses: tuple[float, float] | None = None,
) -> SAEMetrics:
    """sae-lens's standard figures for ``sae`` spliced into ``model`` at its hook.

    ``acts``: the hook's activations on ``games``, if already harvested (checked already).
    ``losses``: the clean and the zero-ablated loss (``_next_move_loss``,
    ``zero_ablation_loss``) on ``games`` at ``hook``, if already measured: the same for
    every SAE at that hook.
    """
    if acts is None:
        hook = check_compatible(sae, model, hook)
        acts = harvest(model, games, [hook], progress=False)
    return _sae_metrics(model, sae, games, hook, acts, losses)[0]


def _sae_metrics(
    model: HookedTransformer,
    sae: SAE,
    games: GameRecord,
    hook: str,
    acts: Activations,
    losses: tuple[float, float] | None,
) -> tuple[SAEMetrics, Float[Tensor, "n d_sae"]]:
    """``sae_metrics``, and the feature activations it encoded (``encode_positions``'s)."""
    x = acts.flat(hook)[0].float()
    with torch.no_grad():
        feats = sae.encode(x)
        recon = sae.decode(feats)

    def splice(value, hook):
        return sae.decode(sae.encode(value.float())).to(value.dtype)

    if losses is None:
        losses = _next_move_loss(model, games), zero_ablation_loss(model, games, hook)
    clean, zero = losses
    spliced = _next_move_loss(model, games, [(hook, splice)])
    metrics = SAEMetrics.measure(
        x, feats, recon, loss_clean=clean, loss_sae=spliced, loss_zero=zero
    )
    return metrics, feats


@dataclass
class BoardMetrics:
    """Coverage per property group, and mine/theirs/empty reconstruction."""

    coverage: dict[str, float]
    coverage_by_state: dict[str, float]  # the mine/theirs/empty group, state by state
    reconstruction: float
    reconstruction_majority: float
    reconstruction_f1: float  # no fallback: what Karvonen et al. report
    features_per_property: dict[str, float]  # features with F1 >= 0.8, per property

    def row(self, name: str) -> dict:
        return {
            "features": name,
            **{f"coverage {g}": round(v, 4) for g, v in self.coverage.items()},
            **{f"coverage {s}": round(v, 4) for s, v in self.coverage_by_state.items()},
            "reconstruction": round(self.reconstruction, 4),
            "reconstruction (majority only)": round(self.reconstruction_majority, 4),
            "reconstruction F1": round(self.reconstruction_f1, 4),
        }


def board_metrics(
    feature_acts: Float[Tensor, "n feature"],
    acts: Activations,
    *,
    props: Bool[Tensor, "n property"] | None = None,
) -> BoardMetrics:
    """Board-grounded scores of any per-position features (SAE latents, neurons, ...).
    ``props``: ``board_properties(acts.labels)``, if already computed (the same for every
    feature set scored on the same games)."""
    props = board_properties(acts.labels) if props is None else props
    scores = score_features(feature_acts, props)
    return _board_metrics(scores, feature_acts, acts)


def _board_metrics(scores: FeatureScores, feature_acts, acts: Activations) -> BoardMetrics:
    relative = acts.labels.relative[acts.labels.valid]
    rec = reconstruct_board(feature_acts, relative, positions_game_index(acts.labels))
    return BoardMetrics(
        coverage=scores.coverage(),
        coverage_by_state=scores.coverage_by_state(),
        reconstruction=rec.accuracy,
        reconstruction_majority=rec.majority_accuracy,
        reconstruction_f1=rec.f1,
        features_per_property=scores.features_per_property(),
    )


CHANCE = "a feature that always fires (chance level)"


def chance_metrics(labels: Labels) -> BoardMetrics:
    """The board-grounded scores of one feature that fires at every position: the floor
    any feature set should clear (module doc)."""
    n = int(labels.valid.sum())
    return board_metrics(torch.ones(n, 1), Activations({}, labels=labels))


def probe_board_metrics(suite: ProbeSuite, acts: Activations, site: str) -> dict:
    """The probes' own scores on the same positions: per-property F1, and board accuracy."""
    labels = acts.labels
    valid = labels.valid
    x = acts.flat(site)[0].float()
    out = {}
    relative_probe = suite.get("relative", site)
    with torch.no_grad():
        guess = relative_probe.logits(x).argmax(-1)  # n, 64
    truth = labels.relative[valid]
    out["reconstruction"] = float((guess == truth).float().mean())
    out["reconstruction F1"] = out["reconstruction"]  # a probe names every square
    f1s = [_f1(guess == c, truth == c) for c in range(3)]
    out["coverage mine/theirs/empty"] = float(torch.cat(f1s).nanmean())
    for state, f1 in zip(RELATIVE, f1s, strict=True):
        out[f"coverage {state}"] = float(f1.nanmean())
    for prop in ("legal", "flipped"):
        if suite.key(prop, site) in suite.probes:
            with torch.no_grad():
                pred = suite.get(prop, site).logits(x).argmax(-1).bool()
            out[f"coverage {prop}"] = float(_f1(pred, getattr(labels, prop)[valid]).nanmean())
    return out


def _f1(pred: Tensor, truth: Tensor) -> Tensor:
    """Per-column F1 of boolean predictions; NaN where the property never holds (a centre
    square is never empty or legal), so averages skip it as ``FeatureScores`` does."""
    tp = (pred & truth).sum(0).float()
    precision = tp / pred.sum(0).clamp(min=1)
    recall = tp / truth.sum(0).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return torch.where(truth.any(0), f1, torch.nan)


def evaluate_sae(
    model: HookedTransformer,
    sae: SAE,
    games: GameRecord,
    *,
    hook: str | None = None,
    acts: Activations | None = None,
    losses: tuple[float, float] | None = None,
) -> dict:
    """Standard and board-grounded figures of one SAE, as a flat dict. ``acts`` and
    ``losses`` as for ``sae_metrics``: what several SAEs on the same games share."""
    hook = check_compatible(sae, model, hook)
    if acts is None:
        acts = harvest(model, games, [hook], progress=False)
    return _evaluate(model, sae, games, hook, acts, losses, board_properties(acts.labels))


def _evaluate(model, sae, games, hook, acts, losses, props) -> dict:
    """``evaluate_sae`` on checked and harvested inputs, encoding once for both kinds of
    figures, with the games' ``board_properties`` given."""
    standard, feats = _sae_metrics(model, sae, games, hook, acts, losses)
    board = board_metrics(feats, acts, props=props)
    return {"hook": hook, **asdict(standard), **board.row("sae")}


def comparison_table(
    model: HookedTransformer,
    hook: str,
    saes: dict[str, SAE],
    games: GameRecord,
    *,
    suite: ProbeSuite | None = None,
    random_init: tuple[HookedTransformer, SAE | dict[str, SAE]] | None = None,
    progress: bool = True,
) -> list[dict]:
    """SAEs at ``hook`` next to the MLP neurons of that layer, the chance level, the probes
    at that site and SAEs trained on a random-init model: one row each, same games, same
    metrics. ``progress``: bars for the harvests and the SAEs scored.

    ``random_init``: the random-init twin and the SAE trained on it (row "SAE on a
    random-init model"), or several by name (rows "SAE on a random-init model (NAME)"),
    e.g. one per architecture for like-for-like baselines.
    """
    # An SAE that records another site (e.g. the same layer's MLP neurons) is read there.
    sites = {
        name: check_compatible(sae, model, sae.cfg.metadata.hook_name or hook)
        for name, sae in saes.items()
    }
    layer = hook_layer(hook)
    neuron_site = f"blocks.{layer}.mlp.hook_post"
    probe_site = hook if hook.endswith("resid_post") else f"blocks.{layer}.hook_resid_post"
    probed = suite is not None and suite.key("relative", probe_site) in suite.probes
    needed = {*sites.values(), neuron_site, *([probe_site] if probed else [])}
    acts = harvest(model, games, sorted(needed, key=hook_layer), progress=progress)  # one pass
    clean = _next_move_loss(model, games) if sites else None  # no SAEs: no loss to recover
    losses = {h: (clean, zero_ablation_loss(model, games, h)) for h in set(sites.values())}
    props = board_properties(acts.labels)  # the same games for every row
    rows = []
    for name, sae in tqdm(saes.items(), desc="scoring SAEs", unit="SAE", disable=not progress):
        site = sites[name]
        row = _evaluate(model, sae, games, site, acts, losses[site], props)
        row.pop("hook")
        rows.append({**row, "features": name if site == hook else f"{name} ({site})"})
    flat = acts.flat(neuron_site)[0].float()
    rows.append(board_metrics(flat, acts, props=props).row(f"{NEURONS_ROW} ({neuron_site})"))
    rows.append(chance_metrics(acts.labels).row(CHANCE))
    if random_init is not None:
        random_model, random_saes = random_init
        if not isinstance(random_saes, dict):  # one SAE
            random_saes = {"": random_saes}
        twin_acts = harvest(random_model, games, [hook], progress=progress)
        for name, random_sae in random_saes.items():
            features = encode_positions(random_sae, twin_acts, hook)
            board = board_metrics(features, twin_acts, props=props)  # the same games
            rows.append(board.row(RANDOM_INIT_ROW + (f" ({name})" if name else "")))
    if probed:
        probe = probe_board_metrics(suite, acts, probe_site)
        name = f"linear probes ({probe_site}; a ceiling, not features)"
        rows.append({"features": name, **probe})
    return rows


def split_comparison(
    model: HookedTransformer,
    hook: str,
    saes: Mapping[str, SAE],
    games: GameRecord,
    *,
    sizes: tuple[int, ...] = (1, 2, 4, 8),
    candidates: int = 128,
    random_init: tuple[HookedTransformer, Mapping[str, SAE]] | None = None,
    progress: bool = True,
) -> list[dict]:
    """Coverage when a property may take the union of up to m features (``union_coverage``),
    for SAEs at ``hook``, that layer's MLP neurons and SAEs on a random-init twin: one row
    per feature set and m. Where single-feature coverage says an SAE misses a square, this
    says whether the square is split over a few features or absent from the dictionary.

    Unions are chosen on the first half of the games and scored on the second (a union of
    8 chosen in-sample would flatter every feature set), so m = 1 sits a little below the
    coverage in the comparison table."""
    layer = hook_layer(hook)
    neuron_hook = f"blocks.{layer}.mlp.hook_post"
    sets = [(name, check_compatible(sae, model, hook), sae) for name, sae in saes.items()]
    hooks = sorted({hook, neuron_hook, *(h for _, h, _ in sets)})
    acts = harvest(model, games, hooks, progress=progress)
    props = board_properties(acts.labels)
    held_out = second_half_of_games(positions_game_index(acts.labels))
    named = [(name, encode_positions(sae, acts, h)) for name, h, sae in sets]
    named.append((f"{NEURONS_ROW} ({neuron_hook})", acts.flat(neuron_hook)[0].float()))
    if random_init is not None:
        twin, twin_saes = random_init
        twin_acts = harvest(twin, games, [hook], progress=progress)
        for name, sae in twin_saes.items():
            suffix = f" ({name})" if name else ""
            named.append((RANDOM_INIT_ROW + suffix, encode_positions(sae, twin_acts, hook)))
    rows = []
    bar = tqdm(named, desc="union coverage", unit="feature set", disable=not progress)
    for name, feature_acts in bar:
        by_size = union_coverage(
            feature_acts, props, sizes=sizes, candidates=candidates, held_out=held_out
        )
        for m, coverage in by_size.items():
            cells = {f"coverage {g}": round(v, 4) for g, v in coverage.items()}
            rows.append({"features": name, "features per property": m, **cells})
    return rows


def coverage_by_layer(
    model: HookedTransformer,
    games: GameRecord,
    *,
    name: str,
    saes: SAESites = (),
    random_init: tuple[HookedTransformer, SAESites] | None = None,
    progress: bool = True,
) -> list[dict]:
    """Coverage of every layer's MLP neurons, and of any SAEs given, by layer.

    The superposition comparison: single neurons vs sparse features, small vs wide models.
    ``saes``: hook -> SAE, or (hook, SAE) pairs where one hook has several (one row each,
    named by architecture). ``random_init`` is a random-init twin of ``model`` with SAEs
    trained on it: what the architecture alone gives at each layer, scored on the twin's
    activations.
    """
    sites = [f"blocks.{layer}.mlp.hook_post" for layer in range(model.cfg.n_layers)]
    pairs = _checked_pairs(model, saes)
    hooks = sorted({*sites, *(hook for hook, _ in pairs)}, key=hook_layer)
    acts = harvest(model, games, hooks, progress=progress)  # one pass: neurons and SAE sites
    bar = tqdm(
        total=len(pairs) + len(sites), desc=f"coverage by layer ({name})", unit="set",
        disable=not progress,
    )  # fmt: skip
    props = board_properties(acts.labels)  # the same games for every layer and feature set
    rows = _sae_coverage_rows(pairs, acts, props, name=name, suffix="", bar=bar)
    if random_init is not None:
        twin, twin_saes = random_init
        twin_pairs = _checked_pairs(twin, twin_saes)
        if twin_pairs:
            twin_hooks = sorted({hook for hook, _ in twin_pairs}, key=hook_layer)
            twin_acts = harvest(twin, games, twin_hooks, progress=progress)
            suffix = " on a random-init model"
            bar.total += len(twin_pairs)
            rows += _sae_coverage_rows(
                twin_pairs, twin_acts, props, name=name, suffix=suffix, bar=bar
            )
    for layer, site in enumerate(sites):
        flat = acts.flat(site)[0].float()
        kind = f"{NEURONS_ROW} (d_mlp {model.cfg.d_mlp})"
        rows.append({"model": name, "layer": layer, "features": kind, **_coverage(flat, props)})
        bar.update()
    bar.close()
    return rows


def shipped_coverage_by_layer(
    name: str,
    games: GameRecord,
    *,
    model: HookedTransformer | None = None,
    architectures: tuple[str, ...] = ("topk", "batchtopk"),
    record: RunRecord | None = None,
) -> list[dict]:
    """``coverage_by_layer`` of a shipped model with its shipped SAEs of ``architectures`` at
    every residual layer and, where they are shipped, their random-init twins: one model's
    rows of the superposition comparison across widths. ``model``: ``name`` already loaded;
    ``record``: gets the fingerprint of every SAE and twin scored."""
    model = model or load_model(name)

    def shipped(random_init: bool) -> list[tuple[str, SAE]]:
        by_arch = [load_saes_by_layer(name, a, random_init=random_init) for a in architectures]
        pairs = [pair for saes in by_arch for pair in saes.items()]
        if record is not None:
            kind = " on the random-init twin" if random_init else ""
            for hook, sae in pairs:
                record.add_weights(f"{name} {hook} SAE {trained_architecture(sae)}{kind}", sae)
        return pairs

    twin_saes = shipped(random_init=True)
    random_init = (random_init_twin(model), twin_saes) if twin_saes else None
    if record is not None and random_init is not None:
        record.add_weights(f"{name} random-init twin", random_init[0])
    return coverage_by_layer(
        model, games, name=name, saes=shipped(random_init=False), random_init=random_init
    )


def _checked_pairs(model: HookedTransformer, saes: SAESites) -> list[tuple[str, SAE]]:
    """(hook, SAE) pairs, each SAE checked against ``model`` at its hook."""
    pairs = list(saes.items()) if isinstance(saes, Mapping) else list(saes)
    return [(check_compatible(sae, model, hook), sae) for hook, sae in pairs]


def _sae_coverage_rows(
    pairs: list[tuple[str, SAE]],
    acts: Activations,
    props: Bool[Tensor, "n property"],
    *,
    name: str,
    suffix: str,
    bar=None,
) -> list[dict]:
    rows = []
    for hook, sae in pairs:
        coverage = _coverage(encode_positions(sae, acts, hook), props)
        site = hook.split(".")[-1]
        kind = f"SAE {trained_architecture(sae)}{suffix} ({site}, d_sae {sae.cfg.d_sae})"
        rows.append({"model": name, "layer": hook_layer(hook), "features": kind, **coverage})
        if bar is not None:
            bar.update()
    return rows


def _coverage(feature_acts: Tensor, props: Bool[Tensor, "n property"]) -> dict[str, float]:
    return score_features(feature_acts, props).coverage()
