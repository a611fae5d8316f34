"""Architecture of the workbench's small language models, mapped onto TransformerLens.

A saved language model is a model folder (see ``io.py``) whose ``config.json`` has
``"kind": "lm"`` and which holds its ``tokenizer.json`` beside the weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from workbench.models.config import check_architecture, config_fields

if TYPE_CHECKING:  # imported where a model is built: seconds, not at import
    from transformer_lens import HookedTransformerConfig
    from transformers import PreTrainedTokenizerFast


@dataclass(frozen=True)
class LMConfig:
    """A GPT-2-style decoder over a small BPE vocabulary."""

    n_layers: int = 2
    d_model: int = 256  # residual stream width
    n_heads: int = 8  # attention heads per layer
    d_mlp: int | None = 1024  # MLP hidden width; None: attention-only
    d_vocab: int = 4096  # the tokenizer's vocabulary size
    n_ctx: int = 256  # longest sequence, BOS included
    act_fn: Literal["gelu", "relu"] = "gelu"
    normalization_type: Literal["LN", "LNPre"] = "LN"

    kind = "lm"

    def __post_init__(self) -> None:
        check_architecture(self)

    @property
    def attn_only(self) -> bool:
        return self.d_mlp is None

    def to_hooked(self, *, seed: int | None = None, device: str = "cpu") -> HookedTransformerConfig:
        from transformer_lens import HookedTransformerConfig

        return HookedTransformerConfig(
            n_layers=self.n_layers,
            d_model=self.d_model,
            n_heads=self.n_heads,
            d_head=self.d_model // self.n_heads,
            d_mlp=self.d_mlp,
            attn_only=self.attn_only,
            d_vocab=self.d_vocab,
            n_ctx=self.n_ctx,
            act_fn=self.act_fn,
            normalization_type=self.normalization_type,
            default_prepend_bos=True,
            seed=seed,
            device=device,
        )

    def build(self, *, seed: int | None = None, device: str = "cpu", tokenizer=None):
        """A freshly (randomly) initialised model, with ``tokenizer`` attached if given."""
        from transformer_lens import HookedTransformer

        return HookedTransformer(self.to_hooked(seed=seed, device=device), tokenizer=tokenizer)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> LMConfig:
        """The config a saved ``config.json`` holds: every field required (none defaulted)."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "kind"}
        return cls(**config_fields(cls, data, "language-model"))

    @property
    def n_params(self) -> int:
        attn = 4 * self.d_model**2
        mlp = 0 if self.d_mlp is None else 2 * self.d_model * self.d_mlp
        return self.n_layers * (attn + mlp) + (2 * self.d_vocab + self.n_ctx) * self.d_model


TOKENIZER_FILE = "tokenizer.json"  # the BPE tokenizer saved beside the weights


def load_tokenizer(folder: str | Path) -> PreTrainedTokenizerFast:
    """The tokenizer saved in ``folder``, as TransformerLens expects it (BOS prepended);
    ``workbench.text.tokenizer`` trains and saves it."""
    folder = Path(folder)
    if not (folder / TOKENIZER_FILE).exists():
        raise FileNotFoundError(
            f"No {TOKENIZER_FILE} in {folder}: a language model's folder holds its tokenizer."
        )
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))
