"""SAE features on text: where each fires, what it does to the next token, and search.

1. ``text_features(model, sae, tokens)``: encode every position of the windows (BOS left
   out) and keep the activations sparsely (position, feature, value): a TopK SAE has k
   active features per position, so this stays small.
2. Per feature: top-activating contexts (tokens around the position, each with its
   activation), the activation values (histogram), firing frequency, the token it fires on
   most (an automatic label: that token's share of the feature's total activation).
3. ``logit_effects``: the decoder direction read straight through the final LayerNorm's
   gain and the unembedding (direct effect, no later layers): the most boosted and
   suppressed next tokens.
4. ``search(query)``: features that fire on the query's tokens, ranked by the share of
   their activation that falls on those tokens times how reliably they fire there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.saes.loading import check_compatible
from workbench.text.saes import hook_activations

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer


@dataclass
class Context:
    """A stretch of text around one position where a feature fired."""

    tokens: list[str]
    activations: list[float]  # the feature's activation on each token
    focus: int  # index in ``tokens`` of the position the context is centred on
    window: int  # which window of the set
    position: int  # position in that window

    @property
    def value(self) -> float:
        return self.activations[self.focus]


@dataclass
class FeatureSummary:
    feature: int
    frequency: float  # fraction of positions where the feature is active
    top_token: str  # the token it fires on most, by total activation
    top_token_share: float  # that token's share of the feature's total activation
    boosted: list[tuple[str, float]]  # direct effect: most promoted next tokens
    suppressed: list[tuple[str, float]]

    @property
    def label(self) -> str:
        return f"fires on {self.top_token!r} ({self.top_token_share:.0%} of its activation)"


@dataclass
class TextFeatureSet:
    """Sparse SAE activations over a set of text windows."""

    tokens: Int[Tensor, "window pos"]  # BOS first
    position: Int[Tensor, " nnz"]  # flat index window * pos + pos of each active entry
    feature: Int[Tensor, " nnz"]
    value: Float[Tensor, " nnz"]
    d_sae: int
    vocab: list[str]  # the string of each token id

    @property
    def n_positions(self) -> int:
        return self.tokens.shape[0] * (self.tokens.shape[1] - 1)  # BOS excluded

    def activations(self, feature: int) -> Float[Tensor, " n"]:
        """Every nonzero activation of ``feature`` (for its histogram)."""
        return self.value[self.feature == self._check(feature)]

    def frequency(self) -> Float[Tensor, " d_sae"]:
        return torch.bincount(self.feature, minlength=self.d_sae).float() / self.n_positions

    def contexts(
        self, feature: int, n: int = 8, *, before: int = 12, after: int = 4
    ) -> list[Context]:
        """The ``n`` top-activating positions of ``feature``, with text around each."""
        mask = self.feature == self._check(feature)
        values, where = self.value[mask], self.position[mask]
        order = values.argsort(descending=True)[:n]
        pos_len = self.tokens.shape[1]
        dense = {int(p): float(v) for p, v in zip(where.tolist(), values.tolist(), strict=True)}
        out = []
        for i in order.tolist():
            window, pos = divmod(int(where[i]), pos_len)
            lo, hi = max(1, pos - before), min(pos_len, pos + after + 1)
            ids = self.tokens[window, lo:hi].tolist()
            acts = [dense.get(window * pos_len + p, 0.0) for p in range(lo, hi)]
            out.append(Context([self.vocab[t] for t in ids], acts, pos - lo, window, pos))
        return out

    def token_shares(self, feature: int) -> list[tuple[str, float]]:
        """Tokens by their share of the feature's total activation, largest first."""
        mask = self.feature == self._check(feature)
        if not mask.any():
            return []
        token_ids = self.tokens.flatten()[self.position[mask]]
        totals = torch.zeros(len(self.vocab)).index_add_(0, token_ids, self.value[mask])
        shares = totals / totals.sum()
        top = shares.argsort(descending=True)[:10]
        return [(self.vocab[t], shares[t].item()) for t in top.tolist() if shares[t] > 0]

    def top_token_share(self) -> tuple[Float[Tensor, " d_sae"], Int[Tensor, " d_sae"]]:
        """For every feature, the largest share of its activation one token takes, and
        that token."""
        vocab = len(self.vocab)
        pairs = self.feature * vocab + self.tokens.flatten()[self.position]
        totals = torch.zeros(self.d_sae * vocab).index_add_(0, pairs, self.value)
        totals = totals.view(self.d_sae, vocab)
        top = totals.max(1)
        return top.values / totals.sum(1).clamp(min=1e-9), top.indices

    def query_tokens(self, query: str, tokenizer) -> list[int]:
        """The token ids of ``query`` as written and, for a word, with a leading space
        (mid-sentence words carry one in byte-level BPE)."""
        variants = {query, " " + query.strip()} if query.strip() else {query} - {""}
        ids = set()
        for text in variants:
            ids |= set(tokenizer(text, add_special_tokens=False)["input_ids"])
        return sorted(ids)

    def search(self, query: str, tokenizer, *, n: int = 10) -> list[tuple[int, float]]:
        """Features that fire on the tokens of ``query``: (feature, score), best first.

        Score: the share of the feature's activation that falls on those tokens times the
        fraction of the tokens' occurrences on which it fires.
        """
        ids = self.query_tokens(query, tokenizer)
        if not ids:
            raise ValueError("Type a word or a token to search for, e.g. ' king' or 'Romeo'.")
        flat_tokens = self.tokens.flatten()
        on_query = torch.isin(flat_tokens[self.position], torch.tensor(ids))
        occurrences = torch.isin(self.tokens[:, 1:], torch.tensor(ids))
        if not occurrences.any():
            shown = [self.vocab[i] for i in ids]
            raise ValueError(f"The tokens {shown} of {query!r} never occur in these windows.")
        total = torch.zeros(self.d_sae).index_add_(0, self.feature, self.value)
        hit = torch.zeros(self.d_sae).index_add_(0, self.feature[on_query], self.value[on_query])
        fired = torch.bincount(self.feature[on_query], minlength=self.d_sae).float()
        score = hit / total.clamp(min=1e-9) * (fired / occurrences.sum()).clamp(max=1.0)
        best = score.argsort(descending=True)[:n]
        return [(int(f), score[f].item()) for f in best.tolist() if score[f] > 0]

    def _check(self, feature: int) -> int:
        if not 0 <= int(feature) < self.d_sae:
            raise ValueError(
                f"Feature {feature} is out of range: this SAE has 0..{self.d_sae - 1}."
            )
        return int(feature)


@torch.no_grad()
def text_features(
    model: HookedTransformer,
    sae: SAE,
    tokens: Int[Tensor, "window pos"],
    *,
    hook: str | None = None,
    progress: bool = True,
) -> TextFeatureSet:
    """Encode every non-BOS position of ``tokens`` with ``sae`` and keep the active entries
    (a progress bar per window encoded)."""
    hook = check_compatible(sae, model, hook)
    acts = hook_activations(model, tokens, hook)
    pos_len = tokens.shape[1]
    positions, features, values = [], [], []
    windows = range(tokens.shape[0])
    for window in tqdm(windows, desc="SAE features", unit="window", disable=not progress):
        feats = sae.encode(acts[window, 1:].float())  # pos-1 d_sae
        pos, feat = feats.nonzero(as_tuple=True)
        positions.append(window * pos_len + pos + 1)
        features.append(feat)
        values.append(feats[pos, feat])
    vocab = [model.tokenizer.decode([i]) for i in range(model.cfg.d_vocab)]
    return TextFeatureSet(
        tokens.cpu(),
        torch.cat(positions).cpu(),
        torch.cat(features).cpu(),
        torch.cat(values).cpu(),
        sae.cfg.d_sae,
        vocab,
    )


@torch.no_grad()
def logit_effects(
    model: HookedTransformer, sae: SAE, feature: int, *, k: int = 10
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Most boosted and most suppressed next tokens by ``feature``'s direct effect."""
    direction = sae.W_dec[feature].float()
    direction = direction - direction.mean()  # LayerNorm centres the residual stream
    if getattr(model.ln_final, "w", None) is not None:
        direction = direction * model.ln_final.w
    logits = direction @ model.W_U
    logits = logits - logits.mean()
    order = logits.argsort(descending=True)
    decode = model.tokenizer.decode
    boosted = [(decode([t]), logits[t].item()) for t in order[:k].tolist()]
    suppressed = [(decode([t]), logits[t].item()) for t in order[-k:].flip(0).tolist()]
    return boosted, suppressed


def summarize(
    fs: TextFeatureSet, model: HookedTransformer, sae: SAE, feature: int
) -> FeatureSummary:
    shares = fs.token_shares(feature)
    boosted, suppressed = logit_effects(model, sae, feature)
    top, share = shares[0] if shares else ("(never fires)", 0.0)
    return FeatureSummary(feature, fs.frequency()[feature].item(), top, share, boosted, suppressed)


def interpretable_features(
    fs: TextFeatureSet, n: int = 16, *, min_frequency: float = 1e-3
) -> list[int]:
    """Features that fire often enough and mostly on one token, one feature per token
    (many features fire on newlines): good first examples."""
    share, token = fs.top_token_share()
    share[fs.frequency() < min_frequency] = -1.0
    picks, seen = [], set()
    for f in share.argsort(descending=True).tolist():
        if share[f] < 0 or len(picks) == n:
            break
        if int(token[f]) not in seen:
            picks.append(f)
            seen.add(int(token[f]))
    return picks
