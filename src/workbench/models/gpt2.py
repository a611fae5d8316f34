"""GPT-2 small through TransformerLens, from the Hub, its local cache, or a local folder.

The real loading path: the Hugging Face model and tokenizer are read by ``transformers``
(``cache_dir`` and ``local_files_only`` passed through), then converted by
``HookedTransformer.from_pretrained("gpt2", hf_model=..., tokenizer=...)`` with
TransformerLens's default weight processing (LayerNorm folded, weights centred), as in
TransformerLens's own demos. Offline with nothing cached, the error says how to provide
the files.
"""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.models.hub import hub_reachable, hub_timeouts, offline_message
from workbench.models.io import ModelFileError

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

HUB_NAME = "gpt2"  # the Hub repository of GPT-2 small (openai-community/gpt2)


def load_gpt2(
    *, path: str | Path | None = None, cache_dir: str | Path | None = None
) -> HookedTransformer:
    """GPT-2 small as a ``HookedTransformer`` in eval mode on the CPU.

    ``path``: a folder written by ``save_pretrained`` (config.json, weights, tokenizer).
    ``cache_dir``: a Hugging Face Hub cache to read (and, online, to fill).
    """
    if path is not None and not (Path(path) / "config.json").exists():
        raise ModelFileError(
            f"{path} is not a Hugging Face model folder (no config.json). Save one with "
            "transformers' `AutoModelForCausalLM.from_pretrained('gpt2').save_pretrained(dir)` "
            "and `AutoTokenizer.from_pretrained('gpt2').save_pretrained(dir)`."
        )
    if path is not None:
        # TransformerLens's GPT-2 loader goes by Hub name only: serve the folder to it as a
        # Hub cache entry (links to the files, nothing copied).
        with tempfile.TemporaryDirectory() as tmp:
            _link_as_hub_cache(Path(path), Path(tmp))
            return load_gpt2(cache_dir=tmp)
    kwargs = {"cache_dir": None if cache_dir is None else str(cache_dir)}
    last_error: Exception | None = None
    for local_only in (True, False):  # the cache first (no network wait), then the Hub
        if not local_only and not hub_reachable():
            break  # fail now rather than after the Hub client's retries (~45 s)
        try:
            with nullcontext() if local_only else hub_timeouts():
                return _from_pretrained(local_only, kwargs)
        except OSError as err:  # connection errors and cache misses are OSErrors
            last_error = err
    last_error = last_error or OSError("the Hub did not answer")
    raise ModelFileError(
        offline_message(
            "GPT-2 small",
            "On a machine with network access run "
            '`python -c "from transformers import AutoModelForCausalLM as M, AutoTokenizer as T; '
            "M.from_pretrained('gpt2').save_pretrained('gpt2'); "
            "T.from_pretrained('gpt2').save_pretrained('gpt2')\"`, copy the folder here and call "
            "load_model('gpt2-small', path='gpt2') (or copy the Hub cache and pass cache_dir=...).",
            last_error,
        )
    ) from last_error


def _from_pretrained(local_only: bool, kwargs: dict) -> HookedTransformer:
    """GPT-2 small through transformers and TransformerLens (see the module doc)."""
    from transformer_lens import HookedTransformer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # add_bos_token=True: the form TransformerLens would otherwise re-fetch itself (without
    # our cache_dir) to prepend BOS.
    tokenizer = AutoTokenizer.from_pretrained(
        HUB_NAME, add_bos_token=True, local_files_only=local_only, **kwargs
    )
    hf_model = AutoModelForCausalLM.from_pretrained(HUB_NAME, local_files_only=local_only, **kwargs)
    model = HookedTransformer.from_pretrained(
        HUB_NAME,
        hf_model=hf_model,
        tokenizer=tokenizer,
        device="cpu",
        local_files_only=local_only,
        **kwargs,
    )
    return model.eval()


def _link_as_hub_cache(folder: Path, cache: Path) -> None:
    """Lay ``folder``'s files out as the Hub cache's ``models--gpt2`` entry, by links."""
    revision = "0" * 40  # a snapshot name in the Hub's commit-hash form
    repo = cache / f"models--{HUB_NAME}"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for file in folder.iterdir():
        if file.is_file():
            (snapshot / file.name).symlink_to(file.resolve())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
