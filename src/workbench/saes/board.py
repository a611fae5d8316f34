"""Score features against the exact board (after Karvonen et al. 2024).

Any set of features works: SAE latents, MLP neurons, or anything with one value per
position. Board properties are binary and per square: ``C4 mine`` / ``C4 theirs`` /
``C4 empty`` (relative frame), ``C4 legal``, ``C4 flipped``.

1. A feature "detects" a property at threshold ``t`` when it is above ``t`` times its
   largest value on the data; ``t`` runs over ``THRESHOLDS``.
2. For every feature and property: precision, recall and F1, keeping the best threshold.
3. **Coverage** of a property group: the best single feature's F1 for each property,
   averaged over the group's properties.
4. **Board reconstruction** (mine/theirs/empty): on the first half of the games find each
   feature's high-precision properties (precision >= 0.95); on the second half predict
   each square as the class of its most precise firing feature (ties: the higher F1; none: the
   square's majority class on the first half), and report the accuracy next to the
   majority-only accuracy. Also the fallback-free figure Karvonen et al. report: the F1 of
   the squares the features name (precision: named right / named; recall: named right /
   all squares), 0 for features that name nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from workbench.activations import Labels
from workbench.othello.squares import SQUARE_NAMES

THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7)
RELATIVE = ("empty", "mine", "theirs")
GROUPS = ("mine/theirs/empty", "legal", "flipped")


def property_names() -> list[str]:
    """Names of the 320 binary properties, in the column order of ``board_properties``."""
    names = [f"{SQUARE_NAMES[s]} {c}" for c in RELATIVE for s in range(64)]
    names += [f"{SQUARE_NAMES[s]} legal" for s in range(64)]
    names += [f"{SQUARE_NAMES[s]} flipped" for s in range(64)]
    return names


def property_groups() -> dict[str, slice]:
    return {
        "mine/theirs/empty": slice(0, 192),
        "legal": slice(192, 256),
        "flipped": slice(256, 320),
    }


def state_groups() -> dict[str, slice]:
    """The mine/theirs/empty group split by state: which state single features miss."""
    return {state: slice(64 * i, 64 * (i + 1)) for i, state in enumerate(RELATIVE)}


def board_properties(labels: Labels) -> Bool[Tensor, "n 320"]:
    """Binary board properties for every valid position (flattened over games)."""
    valid = labels.valid
    parts = [labels.relative[valid] == c for c in range(3)]
    parts += [labels.legal[valid], labels.flipped[valid]]
    return torch.cat(parts, dim=-1)


@dataclass
class FeatureScores:
    """Best-threshold precision / recall / F1 of every feature for every property."""

    f1: Float[Tensor, "feature property"]
    precision: Float[Tensor, "feature property"]
    recall: Float[Tensor, "feature property"]
    threshold: Float[Tensor, "feature property"]  # the fraction of the feature's max used
    support: Float[Tensor, " property"]  # positions where the property holds

    def best_feature(self, prop: int | str) -> tuple[int, float]:
        """The feature that best detects ``prop`` (an index or a name like ``"C4 theirs"``)."""
        j = property_names().index(prop) if isinstance(prop, str) else prop
        i = int(self.f1[:, j].argmax())
        return i, float(self.f1[i, j])

    def label(self, feature: int) -> tuple[str, float]:
        """The property ``feature`` detects best, with its F1: an automatic label."""
        j = int(self.f1[feature].argmax())
        return property_names()[j], float(self.f1[feature, j])

    def coverage(self) -> dict[str, float]:
        """Per group: the best feature's F1 per property, averaged over the group's
        properties that occur in the data (e.g. a centre square is never empty or legal)."""
        return self._per_group(self.f1.amax(dim=0), property_groups())

    def coverage_by_state(self) -> dict[str, float]:
        """Coverage of the mine/theirs/empty properties, state by state."""
        return self._per_group(self.f1.amax(dim=0), state_groups())

    def features_per_property(self, min_f1: float = 0.8) -> dict[str, float]:
        """Per group: how many features detect a property with F1 >= ``min_f1``, on average."""
        return self._per_group((self.f1 >= min_f1).sum(0).float(), property_groups())

    def _per_group(
        self, values: Float[Tensor, " property"], groups: dict[str, slice]
    ) -> dict[str, float]:
        return group_means(values, self.support > 0, groups)


def group_means(
    values: Float[Tensor, " property"], occurs: Bool[Tensor, " property"], groups: dict[str, slice]
) -> dict[str, float]:
    """Per group: the mean of ``values`` over the group's properties that ``occur`` (a
    property that never holds, e.g. a centre square empty, has no F1 to average)."""
    return {g: float(values[s][occurs[s]].mean()) for g, s in groups.items()}


def score_features(
    acts: Float[Tensor, "n feature"],
    props: Bool[Tensor, "n property"],
    *,
    thresholds: tuple[float, ...] = THRESHOLDS,
    chunk: int = 4096,
    sparse_below: float | None = None,
) -> FeatureScores:
    """Precision, recall and F1 of every (feature, property) pair; best threshold kept.

    Where few activations pass the lowest threshold (an SAE's features), only those are
    counted: each one's *level* is how many of the ascending thresholds it passes, so it is
    on at threshold ``i`` exactly when its level is above ``i``, and one sparse product per
    level gives every threshold's counts. Dense features (MLP neurons) take one dense
    product per threshold. Both give the same integer counts. ``sparse_below`` (default
    ``SPARSE_BELOW``): the fraction of activations above the lowest threshold under which
    the sparse count is used (0: always dense; 1: always sparse).
    """
    if acts.shape[0] != props.shape[0]:
        raise ValueError(
            f"acts has {acts.shape[0]} positions but props has {props.shape[0]}: "
            "they must describe the same positions."
        )
    if not thresholds or list(thresholds) != sorted(set(thresholds)) or thresholds[0] < 0:
        raise ValueError(f"thresholds must be distinct, ascending and >= 0, got {thresholds}")
    acts = acts.float()
    top = acts.amax(dim=0).clamp(min=1e-8)  # amax: max without indices, far faster
    p = props.float()
    positives = p.sum(0)  # property
    n_feat, n_prop, n_thr = acts.shape[1], props.shape[1], len(thresholds)
    tp = torch.zeros(n_thr, n_feat, n_prop)  # true positives at each threshold
    fired = torch.zeros(n_thr, n_feat)
    passed = sum(  # by chunks: one comparison of all of them is a byte per activation
        int(torch.count_nonzero(acts[i : i + chunk] > thresholds[0] * top))
        for i in range(0, acts.shape[0], chunk)
    )
    below = SPARSE_BELOW if sparse_below is None else sparse_below
    sparse = passed < below * acts.numel()
    count = _sparse_counts if sparse else _dense_counts
    for i in range(0, acts.shape[0], chunk):
        tp_c, fired_c = count(acts[i : i + chunk], top, p[i : i + chunk], thresholds)
        tp += tp_c
        fired += fired_c
    precision = tp / fired[..., None].clamp(min=1)
    recall = tp / positives.clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    # The best threshold per pair, the lowest of equals; a pair that never scores keeps 0s.
    best_f1, at = f1[0], torch.zeros(n_feat, n_prop, dtype=torch.long)
    for i in range(1, n_thr):
        better = f1[i] > best_f1
        best_f1, at = torch.where(better, f1[i], best_f1), torch.where(better, i, at)
    at = at[None]
    scored = best_f1 > 0
    return FeatureScores(
        f1=best_f1,
        precision=torch.where(scored, precision.gather(0, at)[0], 0.0),
        recall=torch.where(scored, recall.gather(0, at)[0], 0.0),
        threshold=torch.where(scored, torch.tensor(thresholds)[at[0]], 0.0),
        support=positives,
    )


#: Below this fraction of activations above the lowest threshold, count them sparsely
#: (on this CPU a sparse count costs about 6x a dense one per activation, over all thresholds).
SPARSE_BELOW = 0.1


def _dense_counts(
    acts: Float[Tensor, "n feature"],
    top: Float[Tensor, " feature"],
    p: Float[Tensor, "n property"],
    thresholds: tuple[float, ...],
) -> tuple[Float[Tensor, "threshold feature property"], Float[Tensor, "threshold feature"]]:
    """True positives and firing counts of every feature at every threshold, on one chunk."""
    ons = [(acts > t * top).float() for t in thresholds]
    return torch.stack([on.T @ p for on in ons]), torch.stack([on.sum(0) for on in ons])


def _sparse_counts(
    acts: Float[Tensor, "n feature"],
    top: Float[Tensor, " feature"],
    p: Float[Tensor, "n property"],
    thresholds: tuple[float, ...],
) -> tuple[Float[Tensor, "threshold feature property"], Float[Tensor, "threshold feature"]]:
    """``_dense_counts`` from the activations above the lowest threshold only."""
    pos, feat = (acts > thresholds[0] * top).nonzero(as_tuple=True)  # the rest: off at every one
    value, scale = acts[pos, feat], top[feat]
    level = sum((value > t * scale).long() for t in thresholds)  # 1..len(thresholds)
    # Counts of the activations whose level is exactly l, then summed from the top down:
    # an activation is on at threshold i when its level is above i.
    n_feat = acts.shape[1]
    tp_exact, fired_exact = [], []
    for lv in range(1, len(thresholds) + 1):
        at = level == lv
        index = torch.stack([feat[at], pos[at]])
        ones = torch.ones(index.shape[1])
        on = torch.sparse_coo_tensor(index, ones, (n_feat, len(acts)), check_invariants=False)
        tp_exact.append(torch.sparse.mm(on, p))
        fired_exact.append(torch.bincount(feat[at], minlength=n_feat).float())
    tp = torch.stack(tp_exact).flip(0).cumsum(0).flip(0)
    return tp, torch.stack(fired_exact).flip(0).cumsum(0).flip(0)


@dataclass
class Reconstruction:
    accuracy: float  # squares of held-out positions predicted right, features + fallback
    majority_accuracy: float  # the same with no features (each square's majority class)
    f1: float  # the squares the features name, no fallback (module doc, 4)
    n_features_used: int  # features with at least one high-precision property


def reconstruct_board(
    acts: Float[Tensor, "n feature"],
    relative: Int[Tensor, "n 64"],
    game_of_position: Int[Tensor, " n"],
    *,
    min_precision: float = 0.95,
    thresholds: tuple[float, ...] = THRESHOLDS,
) -> Reconstruction:
    """Rebuild the mine/theirs/empty board from high-precision features (module doc, 4)."""
    test = second_half_of_games(game_of_position)
    fit = ~test
    props = torch.cat([relative == c for c in range(3)], dim=-1)  # class-major, like names
    fit_acts = acts[fit].float()  # one copy of the fitting half, for the scores and the scale
    scores = score_features(fit_acts, props[fit], thresholds=thresholds)
    top = fit_acts.amax(dim=0).clamp(min=1e-8)
    # A feature votes for a property where it is precise at its best-F1 threshold.
    votes_for = (scores.precision >= min_precision) & (scores.f1 > 0)  # feature, property
    # One threshold per feature: the lowest at which it is precise for some property.
    thr = torch.where(votes_for, scores.threshold, torch.full_like(scores.threshold, 2.0))
    feature_threshold = thr.min(dim=1).values  # feature
    # Each square takes the class of its most precise firing feature (F1 breaks ties):
    # per position and property, the largest weight among the firing features voting for it.
    feat, prop = votes_for.nonzero(as_tuple=True)  # the (feature, property) votes
    weight = (scores.precision + 0.01 * scores.f1)[feat, prop]
    cut = (feature_threshold * top)[feat]
    test_acts = acts[test].float()
    best = torch.zeros(len(test_acts), props.shape[1])  # position, property
    for i in range(0, len(best), 1024):
        fires = test_acts[i : i + 1024, feat] > cut  # position, vote
        best[i : i + 1024].scatter_reduce_(1, prop.expand_as(fires), fires * weight, "amax")
    best = best.reshape(-1, 3, 64).transpose(1, 2)  # position, square, class
    majority = torch.stack([(relative[fit] == c).sum(0) for c in range(3)], -1).argmax(-1)
    named = best.amax(-1) > 0  # position, square
    guess = torch.where(named, best.argmax(-1), majority[None].expand_as(named))
    truth = relative[test]
    named_right = (named & (guess == truth)).sum().float()
    precision = named_right / named.sum().clamp(min=1)
    recall = named_right / truth.numel()
    return Reconstruction(
        accuracy=float((guess == truth).float().mean()),
        majority_accuracy=float((majority[None] == truth).float().mean()),
        f1=float(2 * precision * recall / (precision + recall).clamp(min=1e-12)),
        n_features_used=int(votes_for.any(1).sum()),
    )


def union_f1(
    acts: Float[Tensor, "n feature"],
    props: Bool[Tensor, "n property"],
    scores: FeatureScores,
    *,
    sizes: tuple[int, ...] = (1, 2, 4, 8),
    candidates: int = 128,
    held_out: Bool[Tensor, " n"] | None = None,
) -> Float[Tensor, "size property"]:
    """F1 of the best union of up to ``m`` features for each property, for each ``m`` in
    ``sizes``: is a property that no single feature detects split over several?

    1. Candidates for property j: its ``candidates`` best features by F1 in ``scores`` (a
       part of a split property has high precision, part of the recall and a middling F1:
       at the default model's blocks.4, 128 candidates give within 0.004 of 1,024), each
       on where above its best threshold for j (``top`` and thresholds from ``scores``'s
       positions: ``score_features(acts[~held_out], props[~held_out])``).
    2. Greedy on those positions: start from the best single feature, add the candidate whose
       OR with the union so far has the highest F1, while that rises.
    3. F1 of each size's union on ``held_out`` positions, or in-sample when ``held_out`` is
       None (then ``m`` = 1 is exactly the coverage's F1).
    """
    fit = torch.ones(len(acts), dtype=torch.bool) if held_out is None else ~held_out
    test = fit if held_out is None else held_out
    if list(scores.f1.shape) != [acts.shape[1], props.shape[1]]:
        raise ValueError(
            f"scores are for {tuple(scores.f1.shape)} (feature, property) but acts and props "
            f"give ({acts.shape[1]}, {props.shape[1]}): score these acts and props first."
        )
    if not sizes or min(sizes) < 1 or candidates < 1:
        raise ValueError(f"sizes and candidates must be positive counts, got {sizes}, {candidates}")
    if not fit.any() or not test.any():
        raise ValueError("held_out must leave positions on both sides (fit and held out)")
    # Feature-major copies of each side, so a property's candidates are contiguous rows.
    fit_t, test_t = acts[fit].float().T.contiguous(), acts[test].float().T.contiguous()
    y_fit, y_test = props[fit].T.contiguous(), props[test].T.contiguous()  # property, n
    top = fit_t.amax(dim=1).clamp(min=1e-8)
    n_cand = min(candidates, acts.shape[1])
    out = torch.zeros(len(sizes), props.shape[1])
    for j in range(props.shape[1]):
        if not y_fit[j].any() or not y_test[j].any():
            continue
        idx = scores.f1[:, j].topk(n_cand).indices  # best first
        cut = (scores.threshold[idx, j] * top[idx])[:, None]
        on_fit, on_test = (fit_t[idx] > cut).float(), test_t[idx] > cut  # candidate, n
        chosen = [0]
        y, union = y_fit[j].float(), on_fit[0]
        fired_alone, tp_alone = on_fit.sum(1), on_fit @ y  # candidate
        for _ in range(1, max(sizes)):
            # |union or c| and its true positives, for every candidate c at once
            overlap, tp_overlap = (on_fit @ torch.stack([union, union * y], dim=1)).T
            fired = union.sum() + fired_alone - overlap
            tp = union @ y + tp_alone - tp_overlap
            f1_with = 2 * tp / (fired + y.sum()).clamp(min=1)
            c = int(f1_with.argmax())
            if f1_with[c] <= 2 * (union @ y) / (union.sum() + y.sum()).clamp(min=1):
                break
            chosen.append(c)
            union = torch.maximum(union, on_fit[c])
        for i, m in enumerate(sizes):
            pred = on_test[chosen[:m]].any(0)
            tp = (pred & y_test[j]).sum()
            out[i, j] = 2 * tp / (pred.sum() + y_test[j].sum()).clamp(min=1)
    return out


def union_coverage(
    acts: Float[Tensor, "n feature"],
    props: Bool[Tensor, "n property"],
    *,
    sizes: tuple[int, ...] = (1, 2, 4, 8),
    candidates: int = 128,
    held_out: Bool[Tensor, " n"] | None = None,
) -> dict[int, dict[str, float]]:
    """Coverage when each property may take the union of up to ``m`` features: per ``m``,
    per property group (``union_f1`` averaged like ``FeatureScores.coverage``, over the
    properties that occur where they are scored)."""
    fit = slice(None) if held_out is None else ~held_out
    scores = score_features(acts[fit], props[fit])
    f1 = union_f1(acts, props, scores, sizes=sizes, candidates=candidates, held_out=held_out)
    occurs = (props if held_out is None else props[held_out]).any(0)
    return {m: group_means(f1[i], occurs, property_groups()) for i, m in enumerate(sizes)}


def second_half_of_games(game_of_position: Int[Tensor, " n"]) -> Bool[Tensor, " n"]:
    """The positions of the second half of the games: held out where features are chosen
    on the first half (board reconstruction, unions of features)."""
    games = torch.unique(game_of_position)
    return ~torch.isin(game_of_position, games[: len(games) // 2])


def positions_game_index(labels: Labels) -> Int[Tensor, " n"]:
    """The game each valid position (flattened as in ``board_properties``) belongs to."""
    games = torch.arange(labels.valid.shape[0])[:, None].expand_as(labels.valid)
    return games[labels.valid]


def top_activating(acts: Float[Tensor, " n"], k: int = 8) -> np.ndarray:
    """Indices of the ``k`` largest values (positions where a feature fires most)."""
    return torch.topk(acts.float(), min(k, len(acts))).indices.numpy()
