"""Train an SAE, evaluate it and ship it; gather the SAEs shipped at one site. The pipelines
behind ``workbench sae``, ``sae-table`` and ``sae-split`` (the CLI only parses and prints).

``train_and_ship``:

1. Refuse an output folder the workbench did not write, before any training.
2. Train on ``inputs.stream`` (OthelloGPT games by default, corpus windows for a language
   model: ``text.saes.text_sae_inputs``), checkpointed beside the folder and resumable.
3. Move model and SAE to the CPU, round the weights to the stored dtype, and evaluate the
   SAE that is stored (``inputs.evaluate``).
4. Save it with its record (command, training summary, evaluation); drop the checkpoints.

``saes_at_site``: a model's shipped SAEs at one hook (plus unshipped folders), and the
random-init twin with the SAEs trained on it, each fingerprinted into a ``RunRecord``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

import torch
from torch import Tensor

from workbench.checkpoints import remove_run_folder
from workbench.models.config import random_init_twin
from workbench.models.registry import load_model
from workbench.outputs import check_output_dir
from workbench.provenance import RunRecord
from workbench.saes.evaluate import eval_games, evaluate_sae
from workbench.saes.loading import (
    OLDER_SAE,
    list_saes,
    load_sae,
    load_sae_folder,
    older_sae_folder,
    round_weights,
    save_sae,
)
from workbench.saes.train import SAETrainConfig, train_sae

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer


@dataclass(frozen=True)
class SAEInputs:
    """A domain's part of the pipeline: what the SAE trains on and how it is scored."""

    #: batches of activations (``train_sae``'s ``activations``); None: its own, from games
    stream: Callable[..., Iterator[Tensor]] | None
    #: the stored SAE's evaluation record, on the CPU model
    evaluate: Callable[[HookedTransformer, SAE], dict]


def othello_sae_inputs(
    model: HookedTransformer,
    cfg: SAETrainConfig,
    *,
    eval_games_n: int = 300,
    activation_cache: str | Path | None = None,
) -> SAEInputs:
    """Fresh games (or ``activation_cache``: every ``hook_resid_post`` kept and reused, the
    same batches) to train on; ``evaluate_sae`` on ``eval_games_n`` held-out games."""
    stream = None
    if activation_cache:
        from workbench.activations import resid_post_sites
        from workbench.saes.cache import ActivationCache
        from workbench.saes.train import activation_stream

        cache = ActivationCache(activation_cache, hooks=tuple(resid_post_sites(model)))
        stream = partial(
            activation_stream, model, cfg.hook, batch_size=cfg.batch_size,
            buffer_games=cfg.buffer_games, seed=cfg.seed, cache=cache,
        )  # fmt: skip

    def evaluate(model: HookedTransformer, sae: SAE) -> dict:
        return evaluate_sae(model, sae, eval_games(eval_games_n))

    return SAEInputs(stream=stream, evaluate=evaluate)


def train_and_ship(
    model: HookedTransformer,
    cfg: SAETrainConfig,
    folder: str | Path,
    inputs: SAEInputs,
    *,
    command: str,
    device: str = "cpu",
    save_dtype: Literal["float32", "float16"] = "float32",
    overwrite: bool = False,
    n_checkpoints: int = 10,
    restart: bool = False,
) -> dict:
    """Train, evaluate and save an SAE into ``folder``; the record it saved beside it.

    ``command``: what made it (recorded). ``device``: where to harvest and train
    (evaluation runs on the CPU). ``save_dtype``: the weights' dtype on disk; the evaluation
    scores the rounded weights. ``n_checkpoints``: checkpoints over the run (0: none) in
    ``FOLDER.checkpoints/``, which ``restart`` deletes first. A signal's stop raises
    ``saes.train.TrainingStopped``; the same call resumes.
    """
    folder = Path(folder)
    store = getattr(torch, save_dtype)
    check_output_dir(
        folder, overwrite=overwrite, recognise=older_sae_folder, recognised=OLDER_SAE
    )  # refused now, not after the training
    checkpoints = folder.with_name(folder.name + ".checkpoints")  # beside it; git ignores it
    if restart:
        remove_run_folder(checkpoints)
    resumable = (
        {"checkpoints": checkpoints, "n_checkpoints": n_checkpoints} if n_checkpoints else {}
    )
    model.to(device)
    trained = train_sae(model, cfg, activations=inputs.stream, **resumable)
    # back to the CPU: evaluation runs there, and the saved cfg.json must name the device
    # every reader has (sae-lens's SAE.to sets it)
    model.to("cpu")
    trained.sae.to("cpu")
    round_weights(trained.sae, store)  # evaluate the SAE that is stored
    evaluation = inputs.evaluate(model, trained.sae)
    info = {"command": command, **trained.summary(), "evaluation": evaluation}
    info["stored_dtype"] = save_dtype
    save_sae(trained.sae, folder, info, dtype=store, overwrite=overwrite)
    remove_run_folder(checkpoints)  # the SAE is stored: nothing to resume
    return info


RandomInit: TypeAlias = "tuple[HookedTransformer, dict[str, SAE]]"  # the twin, its SAEs by name


def saes_at_site(
    model_name: str,
    hook: str,
    record: RunRecord,
    *,
    extra: Sequence[tuple[str, str | Path]] = (),
    extra_random_init: Sequence[tuple[str, str | Path]] = (),
) -> tuple[HookedTransformer, dict[str, SAE], RandomInit | None]:
    """The model, its shipped SAEs at ``hook`` (plus ``extra`` (name, folder) pairs, each
    read at the hook it records) by row name, and the random-init twin with the SAEs
    trained on it (the first shipped one unnamed; plus ``extra_random_init``), or None if
    there are none; each one's fingerprint added to ``record``."""
    model = load_model(model_name)
    shipped = [e for e in list_saes(model_name) if e.hook == hook]
    saes = {
        f"SAE {e.architecture}": load_sae(model_name, hook, e.architecture)
        for e in shipped
        if not e.random_init
    }
    for name, folder in extra:  # a sweep's, unshipped
        saes[name] = load_sae_folder(folder)
    randoms: dict[str, SAE] = {}
    for e in (e for e in shipped if e.random_init):
        sae = load_sae(model_name, hook, e.architecture, random_init=True)
        randoms["" if not randoms else e.architecture] = sae
    for name, folder in extra_random_init:
        randoms[name] = load_sae_folder(folder)
    twin = random_init_twin(model) if randoms else None
    record.add_weights(f"model {model_name}", model)
    for name, sae in saes.items():
        record.add_weights(name, sae)
    if twin is not None:
        record.add_weights("random-init twin", twin)
    for name, sae in randoms.items():
        record.add_weights(f"SAE on the random-init twin {name}".rstrip(), sae)
    return model, saes, ((twin, randoms) if twin is not None else None)
