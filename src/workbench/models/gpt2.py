"""GPT-2 small through TransformerLens, from the Hub, its local cache, or a local folder.

The real loading path: the Hugging Face model and tokenizer are read by ``transformers``
(``cache_dir`` and ``local_files_only`` passed through), then converted by
``HookedTransformer.from_pretrained("gpt2", hf_model=..., tokenizer=...)`` with
TransformerLens's default weight processing (LayerNorm folded, weights centred), as in
TransformerLens's own demos. Offline with nothing cached, the error says how to provide
the files.
"""

from __future__ import annotations

from pathlib import Path

from transformer_lens import HookedTransformer

from workbench.models.io import ModelFileError

HUB_NAME = "gpt2"  # the Hub repository of GPT-2 small (openai-community/gpt2)


def load_gpt2(
    *, path: str | Path | None = None, cache_dir: str | Path | None = None
) -> HookedTransformer:
    """GPT-2 small as a ``HookedTransformer`` in eval mode on the CPU.

    ``path``: a folder written by ``save_pretrained`` (config.json, weights, tokenizer).
    ``cache_dir``: a Hugging Face Hub cache to read (and, online, to fill).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = str(path) if path is not None else HUB_NAME
    if path is not None and not (Path(path) / "config.json").exists():
        raise ModelFileError(
            f"{path} is not a Hugging Face model folder (no config.json). Save one with "
            "transformers' `AutoModelForCausalLM.from_pretrained('gpt2').save_pretrained(dir)` "
            "and `AutoTokenizer.from_pretrained('gpt2').save_pretrained(dir)`."
        )
    kwargs = {"cache_dir": None if cache_dir is None else str(cache_dir)}
    last_error: Exception | None = None
    for local_only in (False, True):  # the Hub first, then whatever the cache holds
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only, **kwargs)
            hf_model = AutoModelForCausalLM.from_pretrained(
                source, local_files_only=local_only, **kwargs
            )
            model = HookedTransformer.from_pretrained(
                HUB_NAME if path is None else source,
                hf_model=hf_model,
                tokenizer=tokenizer,
                device="cpu",
                local_files_only=local_only,
                **kwargs,
            )
            return model.eval()
        except OSError as err:  # connection errors and cache misses are OSErrors
            last_error = err
    raise ModelFileError(
        "GPT-2 small could not be loaded: the Hugging Face Hub is not reachable and it is not "
        "in the local cache. On a machine with network access run "
        '`python -c "from transformers import AutoModelForCausalLM as M, AutoTokenizer as T; '
        "M.from_pretrained('gpt2').save_pretrained('gpt2'); "
        "T.from_pretrained('gpt2').save_pretrained('gpt2')\"`, copy the folder here and call "
        "load_model('gpt2-small', path='gpt2') (or copy the Hub cache and pass cache_dir=...). "
        f"Underlying error: {type(last_error).__name__}: {last_error}"
    ) from last_error
