"""Saving and loading models: safetensors for weights, JSON for config and card.

A saved model is a folder with ``model.safetensors``, ``config.json`` (an
``OthelloGPTConfig``) and ``card.json`` (how it was made and how well it does). Writes are
atomic: each file is written beside its target and renamed into place
(``workbench.files``, whose ``atomic_write``, ``write_json`` and ``shown_path`` stay
importable from here).
"""

from __future__ import annotations

import pickle
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from workbench import files, paths
from workbench.files import atomic_write, write_json
from workbench.files import shown_path as shown_path  # importable here, as before
from workbench.manifest import verify
from workbench.models.config import OthelloGPTConfig
from workbench.models.lm import LMConfig, load_tokenizer
from workbench.progress import Steps

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


class ModelFileError(ValueError):
    """A model file is missing, corrupted or does not match its architecture."""


def read_json(path: Path, *, error: type[Exception] | None = None, what: str = "File") -> dict:
    """``workbench.files.read_json`` with ``ModelFileError`` as the default error."""
    return files.read_json(path, error=error or ModelFileError, what=what)


def save_model(
    model: HookedTransformer,
    config: OthelloGPTConfig | LMConfig,
    folder: Path,
    *,
    card: dict | None = None,
    dtype: torch.dtype = torch.float32,
    max_shard_bytes: int | None = None,
) -> None:
    """Save weights, config and (optionally) the model card into ``folder``.

    With ``max_shard_bytes``, weights larger than that are split into
    ``model-0000i-of-0000n.safetensors`` files listed in ``model.safetensors.index.json``
    (the Hugging Face convention), so no single file is large.
    """
    folder = Path(folder)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    shards = _split(state, max_shard_bytes) if max_shard_bytes else [state]
    if len(shards) == 1:
        atomic_write(folder / WEIGHTS, lambda p: save_file(shards[0], str(p)))
    else:
        weight_map = {}
        for i, shard in enumerate(shards, start=1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            atomic_write(folder / name, lambda p, shard=shard: save_file(shard, str(p)))
            weight_map.update({k: name for k in shard})
        write_json(folder / SHARD_INDEX, {"weight_map": weight_map})
    write_json(folder / "config.json", config.to_dict())
    if card is not None:
        write_json(folder / "card.json", card)


def round_through(model: HookedTransformer, dtype: torch.dtype) -> HookedTransformer:
    """Round ``model``'s floating-point weights to ``dtype`` and back, in place: the model
    that loading a copy saved in ``dtype`` gives, for figures that describe what is shipped."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.to(dtype))
    return model


#: The clone the package runs from (holds data/, notebooks/, src/); see workbench.paths.
REPO_ROOT = paths.CLONE_ROOT
WEIGHTS = "model.safetensors"
SHARD_INDEX = "model.safetensors.index.json"


def _split(state: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    return shards


def load_folder_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Weights of a model folder, single-file or sharded."""
    folder = Path(folder)
    index = folder / SHARD_INDEX
    if index.exists():
        weight_map = read_json(index, what="Shard index").get("weight_map")
        if not isinstance(weight_map, dict):
            raise ModelFileError(f"Shard index {index} has no 'weight_map' object.")
        names = sorted({str(name) for name in weight_map.values()})
        state: dict[str, torch.Tensor] = {}
        for name in names:
            state.update(load_state_dict(folder / name))
        return state
    return load_state_dict(folder / WEIGHTS)


def read_config(folder: Path) -> OthelloGPTConfig | LMConfig:
    """The architecture saved in a model folder: an OthelloGPT or a language model."""
    path = Path(folder) / "config.json"
    if not path.exists():
        raise ModelFileError(
            f"No config.json in {folder}: a saved model folder holds "
            "model.safetensors, config.json and card.json."
        )
    verify(path)
    raw = read_json(path, what="Model config")
    try:
        if raw.get("kind") == LMConfig.kind:
            return LMConfig.from_dict(raw)
        return OthelloGPTConfig.from_dict(raw)
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"{path} is not a valid model config: {err}") from err


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load tensors from safetensors, or a torch file without unpickling arbitrary code."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"Weights file {path} does not exist.")
    verify(path)
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (
        SafetensorError,
        pickle.UnpicklingError,
        RuntimeError,
        OSError,
        EOFError,
        ValueError,
    ) as err:
        raise ModelFileError(f"Could not read weights from {path} (corrupted?): {err}") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path} does not hold a flat state dict of tensors.")
    return state


def model_from_state_dict(
    config: OthelloGPTConfig | LMConfig, state: dict[str, torch.Tensor], *, source: str
) -> HookedTransformer:
    """Build the architecture and load ``state`` into it strictly, with a clear error."""
    model = config.build()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    # TransformerLens buffers (attention masks, IGNORE) may legitimately be absent.
    missing = [k for k in missing if not k.endswith(("mask", "IGNORE"))]
    wrong_shape = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong_shape:
        raise ModelFileError(
            f"Weights in {source} do not match the architecture {config}: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shapes {wrong_shape[:5]}."
        )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    return model.eval()


#: The steps of ``load_model_folder``, as its bar names them.
LOAD_STEPS = ("import TransformerLens", "read the weights", "build the model")


def load_model_folder(folder: Path, *, progress: bool = False) -> HookedTransformer:
    """Load a model saved with ``save_model``: a ``HookedTransformer`` in eval mode on CPU.

    A language model's folder also holds its ``tokenizer.json``, attached to the model.
    ``progress``: a bar over ``LOAD_STEPS`` (``load_model`` shows it where the load takes
    seconds: when it is the session's first, which imports TransformerLens).
    """
    folder = Path(folder)
    with Steps(f"load {folder.name}", LOAD_STEPS, progress=progress) as step:
        step("import TransformerLens")
        import_module("transformer_lens")  # seconds, once a session (model_from_state_dict)
        step("read the weights")
        config = read_config(folder)
        state = load_folder_weights(folder)
        tokenizer = load_tokenizer(folder) if isinstance(config, LMConfig) else None
        step("build the model")
        model = model_from_state_dict(config, state, source=str(folder))
        if tokenizer is not None:
            model.set_tokenizer(tokenizer)
    return model


def read_card(folder: Path) -> dict:
    """A model folder's ``card.json`` (``{}`` when it has none); a corrupt one is named."""
    path = Path(folder) / "card.json"
    return read_json(path, what="Model card") if path.exists() else {}
