"""A small byte-level BPE tokenizer for the workbench's language models.

Trained with the ``tokenizers`` library on the corpus and saved as one ``tokenizer.json``
beside the model. Byte-level, as GPT-2's: every string round-trips exactly. Token 0 is
``<|endoftext|>``, used as beginning-of-sequence, end-of-document and padding (GPT-2's
convention), so TransformerLens's ``prepend_bos`` works as it does on GPT-2.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from workbench.files import atomic_write
from workbench.models.lm import TOKENIZER_FILE
from workbench.models.lm import load_tokenizer as load_tokenizer  # loading is the model's

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

EOT = "<|endoftext|>"
TOKENIZER_CONFIG = "tokenizer_config.json"


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 4096) -> Tokenizer:
    """Byte-level BPE with ``vocab_size`` tokens (including the 256 bytes and EOT)."""
    if not 257 <= vocab_size <= 65_535:
        raise ValueError(f"vocab_size must be in [257, 65535] (bytes + EOT), got {vocab_size}.")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def save_tokenizer(tok: Tokenizer, folder: Path) -> None:
    """Write ``tokenizer.json`` and ``tokenizer_config.json`` (Hugging Face's format)."""
    folder = Path(folder)
    with tempfile.TemporaryDirectory(dir=folder.parent if folder.exists() else None) as tmp:
        wrap(tok).save_pretrained(tmp)
        for name in (TOKENIZER_FILE, TOKENIZER_CONFIG):
            data = (Path(tmp) / name).read_text()
            atomic_write(folder / name, lambda p, data=data: p.write_text(data))


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """A Hugging Face tokenizer around ``tok`` that prepends BOS, as GPT-2's does in TL."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOT,
        eos_token=EOT,
        pad_token=EOT,
        add_bos_token=True,  # TransformerLens then uses it as it is
        name_or_path="workbench-bpe",  # TransformerLens reads this key
    )


def encode_documents(tok: Tokenizer, texts: Iterable[str]) -> np.ndarray:
    """All texts as one token stream, each document followed by EOT (uint16).

    Works on a copy without truncation or padding (Hugging Face wrappers set both on the
    tokenizer they share, e.g. after ``model.to_tokens``, which would cut each document).
    """
    tok = Tokenizer.from_str(tok.to_str())
    tok.no_truncation()
    tok.no_padding()
    eot = tok.token_to_id(EOT)
    encodings = tok.encode_batch(list(texts), add_special_tokens=False)  # no BOS per document
    parts = [np.asarray(e.ids + [eot], dtype=np.uint16) for e in encodings]
    return np.concatenate(parts)
