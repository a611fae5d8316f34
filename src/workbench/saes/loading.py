"""Find, save and load SAEs: the shipped ones by (model, hook, architecture), published
ones through sae-lens.

Shipped SAEs live in sae-lens's own on-disk format (``cfg.json`` +
``sae_weights.safetensors``), so ``sae_lens.SAE.load_from_disk`` reads them directly:

    data/saes/<model>/<hook>/<architecture>[-random-init]/

``<model>`` is the registry entry's own name: an alias such as ``othello`` finds the SAEs
of the model it points at.

``-random-init`` marks the same SAE trained on a randomly initialised model of the same
architecture (the baseline that shows what the architecture alone gives). Each folder
also holds ``training.json``: the config, the command, the time it took and the
evaluation.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from workbench import paths
from workbench.activations import HookNameError, hook_layer, validate_hooks
from workbench.manifest import verify
from workbench.models.hub import cache_unless_reachable, offline_message
from workbench.models.io import read_json, write_json
from workbench.models.registry import canonical_name
from workbench.outputs import output_dir
from workbench.progress import Steps, imported

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer

RANDOM_INIT = "-random-init"
#: The steps of ``load_sae``, as its bar names them.
SAE_STEPS = ("import sae-lens", "read the SAE")


class SAENotFoundError(LookupError):
    """No shipped SAE matches, and the name is no sae-lens release either."""


class SAEUnavailableError(OSError):
    """A published SAE could not be fetched (e.g. no network) and is not cached."""


class SAEMismatchError(ValueError):
    """An SAE does not fit the model or hook it is used with."""


class SAEFileError(ValueError):
    """An SAE folder whose ``cfg.json`` or weights are missing or corrupt."""


def load_sae_folder(folder: str | Path, *, device: str = "cpu") -> SAE:
    """``SAE.load_from_disk``, with a missing or corrupt ``cfg.json`` or weights file
    raising an ``SAEFileError`` that names the file and what is wrong."""
    folder = Path(folder)
    for name in ("cfg.json", "sae_weights.safetensors"):
        verify(folder / name)
    cfg = read_json(folder / "cfg.json", error=SAEFileError, what="SAE config")
    missing = [key for key in ("d_in", "d_sae") if key not in cfg]
    if missing:
        raise SAEFileError(f"SAE config {folder / 'cfg.json'} lacks {missing}.")
    from sae_lens import SAE  # seconds on first use (TransformerLens with it)

    try:
        return SAE.load_from_disk(folder, device=device)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise SAEFileError(
            f"Could not load the SAE in {folder} (cfg.json and sae_weights.safetensors, "
            f"corrupted or from another sae-lens?): {type(err).__name__}: {err}"
        ) from err


@dataclass(frozen=True)
class SAEEntry:
    model: str
    hook: str
    architecture: str
    random_init: bool
    path: Path


def saes_dir(data_dir: str | Path | None = None) -> Path:
    """``data/saes`` of the data folder (``workbench.paths.data_dir``)."""
    return paths.data_dir(data_dir) / "saes"


def __getattr__(name: str) -> Path:
    # SAES_DIR and DATA_DIR stay importable, resolved when read (workbench.paths).
    if name == "SAES_DIR":
        return saes_dir()
    if name == "DATA_DIR":
        return paths.data_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def site_dir(model: str, hook: str, *, data_dir: str | Path | None = None) -> Path:
    """The folder of a model's SAEs at one site (and of their comparison table)."""
    return saes_dir(data_dir) / canonical_name(model) / hook


def sae_dir(
    model: str,
    hook: str,
    architecture: str,
    *,
    random_init: bool = False,
    data_dir: str | Path | None = None,
) -> Path:
    folder = site_dir(model, hook, data_dir=data_dir)
    return folder / (architecture + (RANDOM_INIT if random_init else ""))


def list_saes(model: str | None = None, *, data_dir: str | Path | None = None) -> list[SAEEntry]:
    """Every shipped SAE (optionally of one model)."""
    entries = []
    for cfg in sorted(saes_dir(data_dir).glob("*/*/*/cfg.json")):
        folder = cfg.parent
        name = folder.name
        entries.append(
            SAEEntry(
                model=folder.parent.parent.name,
                hook=folder.parent.name,
                architecture=name.removesuffix(RANDOM_INIT),
                random_init=name.endswith(RANDOM_INIT),
                path=folder,
            )
        )
    return [e for e in entries if model is None or e.model == canonical_name(model)]


def trained_architecture(sae: SAE) -> str:
    """The architecture ``sae`` was trained as: sae-lens saves a BatchTopK SAE for inference
    as JumpReLU (``cfg.architecture()``), keeping the training one in its metadata."""
    return getattr(sae.cfg.metadata, "training_architecture", None) or sae.cfg.architecture()


def comparison_site(model: str) -> str:
    """The residual site where ``model``'s shipped SAEs of several architectures sit side by
    side (the rebuild puts them where the probes read the board best): the site notebooks
    and tables compare at, whichever model is shipped."""
    counts: dict[str, int] = {}
    for e in list_saes(model):
        if not e.random_init and e.hook.endswith(".hook_resid_post"):
            counts[e.hook] = counts.get(e.hook, 0) + 1
    if not counts:
        models = sorted({e.model for e in list_saes()})
        raise SAENotFoundError(
            f"No shipped residual-stream SAEs for model {model!r}; models with SAEs: {models}."
        )
    return max(counts, key=lambda hook: (counts[hook], -hook_layer(hook)))


#: The files of an SAE folder ``save_sae`` wrote before folders carried the workbench's marker.
SAE_FILES = frozenset(
    {"cfg.json", "sae_weights.safetensors", "sparsity.safetensors", "training.json"}
    | {"evaluation.json", "runner_cfg.json"}
)
OLDER_SAE = (
    "(A folder holding only an SAE's files counts as the workbench's: cfg.json, "
    "sae_weights.safetensors, training.json, ...)"
)


def _same_model(a: str, b: str) -> bool:
    """Two model names for the same weights: an alias (``othello``) names the model it points
    at now (``othello-gpt-cpu-6l``), also with ``-random-init`` after it."""
    from workbench.models.registry import canonical_name

    def canon(name: str) -> str:
        suffix = "-random-init"
        if name.endswith(suffix):
            return canonical_name(name[: -len(suffix)]) + suffix
        return canonical_name(name)

    return canon(a) == canon(b)


def older_sae_folder(folder: Path) -> bool:
    """Whether ``folder`` holds an SAE's files and nothing else (``SAE_FILES``)."""
    names = {p.name for p in folder.iterdir()}
    return "cfg.json" in names and names <= SAE_FILES


def save_sae(
    sae: SAE,
    folder: str | Path,
    info: dict | None = None,
    *,
    dtype: torch.dtype | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``sae`` in sae-lens's format (plus ``training.json``), replacing ``folder`` whole.

    ``dtype``: store the weights in it (float16 halves the file); the config keeps the SAE's
    own dtype, which ``SAE.load_from_disk`` casts them back to. ``round_weights`` first makes
    the SAE in memory the one stored, for evaluating it. ``folder`` must be new, empty or an
    SAE folder the workbench wrote; ``overwrite`` replaces any other (``workbench.outputs``).
    """
    folder = Path(folder)
    where = output_dir(
        folder,
        writer="workbench save_sae",
        overwrite=overwrite,
        recognise=older_sae_folder,
        recognised=OLDER_SAE,
    )
    with where as tmp:
        weights, _ = sae.save_model(tmp)
        if dtype is not None:
            tensors = load_file(weights)
            save_file({k: _cast(v, dtype) for k, v in tensors.items()}, weights)
        if info is not None:
            write_json(tmp / "training.json", info)
        for path in tmp.iterdir():
            path.chmod(0o644)  # safetensors makes owner-only files
    return folder


@torch.no_grad()
def round_weights(sae: SAE, dtype: torch.dtype) -> SAE:
    """Round ``sae``'s floating-point weights to ``dtype`` and back, in place: the SAE that
    ``save_sae(..., dtype=dtype)`` stores, to evaluate before saving."""
    for tensor in sae.state_dict().values():
        tensor.copy_(_cast(tensor, dtype))
    return sae


def _cast(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return tensor.to(dtype) if tensor.is_floating_point() else tensor


def load_sae(
    model_or_release: str,
    hook_or_id: str,
    architecture: str | None = "topk",
    *,
    random_init: bool = False,
    device: str = "cpu",
    data_dir: str | Path | None = None,
    progress: bool = True,
) -> SAE:
    """A shipped SAE by (model, hook, architecture), or a published one by (release, id).

    ``load_sae("othello", "blocks.2.hook_resid_post", "topk")`` reads ``data/saes``
    (``data_dir``: another data folder; default ``workbench.paths.data_dir()``);
    ``load_sae("gpt2-small-res-jb", "blocks.8.hook_resid_pre")`` goes through
    ``SAE.from_pretrained`` (the Hub or its local cache).

    ``progress``: a bar over ``SAE_STEPS`` where the load takes seconds: a published SAE,
    and a shipped one loaded before any model, which imports TransformerLens with sae-lens.
    """
    shipped = list_saes(model_or_release, data_dir=data_dir)
    folder = None
    if shipped:
        folder = sae_dir(
            model_or_release,
            hook_or_id,
            architecture or "",
            random_init=random_init,
            data_dir=data_dir,
        )
        if not (folder / "cfg.json").exists():
            have = sorted(
                f"({e.hook!r}, {e.architecture!r}{', random_init=True' if e.random_init else ''})"
                for e in shipped
            )
            raise SAENotFoundError(
                f"No shipped SAE for model {model_or_release!r} at {hook_or_id!r} with "
                f"architecture {architecture!r}{' (random init)' if random_init else ''}. "
                f"Shipped for this model: {', '.join(have)}."
            )
    show = progress and (folder is None or not imported("transformer_lens"))
    with Steps(f"load SAE {hook_or_id}", SAE_STEPS, progress=show) as step:
        step("import sae-lens")
        import_module("sae_lens")  # with TransformerLens; registers the SAE classes it reads
        step("read the SAE")
        if folder is not None:
            return load_sae_folder(folder, device=device)
        return _load_published(model_or_release, hook_or_id, device)


def load_saes_by_layer(
    model: str,
    architecture: str = "topk",
    *,
    random_init: bool = False,
    site: str = "hook_resid_post",
) -> dict[str, SAE]:
    """The shipped SAEs of one architecture at one site of every layer that has one
    (hook -> SAE, in layer order): the per-layer comparison's input."""
    entries = [
        e
        for e in list_saes(model)
        if e.architecture == architecture
        and e.random_init == random_init
        and e.hook.endswith("." + site)
    ]
    entries.sort(key=lambda e: hook_layer(e.hook))
    return {e.hook: load_sae_folder(e.path) for e in entries}


def _load_published(release: str, sae_id: str, device: str) -> SAE:
    from sae_lens import SAE
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    releases = get_pretrained_saes_directory()
    if release not in releases:
        models = sorted({e.model for e in list_saes()})
        raise SAENotFoundError(
            f"{release!r} is neither a model with shipped SAEs ({models}) nor a sae-lens "
            f"release (e.g. 'gpt2-small-res-jb'; {len(releases)} known)."
        )
    ids = releases[release].saes_map
    if sae_id not in ids:
        raise SAENotFoundError(
            f"Release {release!r} has no SAE {sae_id!r}; it has e.g. {sorted(ids)[:8]}."
        )
    try:
        with cache_unless_reachable():  # offline: the cache at once, not ~45 s of retries
            return SAE.from_pretrained(release, sae_id, device=device)
    except OSError as err:  # connection errors and missing cache entries are OSErrors
        repo = releases[release].repo_id
        raise SAEUnavailableError(
            offline_message(
                f"SAE {sae_id!r} of release {release!r} (Hub repository {repo})",
                "With network access it downloads once; offline, copy the Hub cache "
                "(HF_HOME) from a machine that has it, or download the files elsewhere and "
                "use workbench.saes.loading.load_sae_folder(folder).",
                err,
            )
        ) from err


def check_compatible(
    sae: SAE, model: HookedTransformer, hook: str | None = None, *, strict: bool = True
) -> str:
    """The hook ``sae`` reads, after checking it exists in ``model`` with width ``d_in``.

    An SAE applied at another hook than the one it records, or on another model than the
    one it records (where the model knows its name: ``load_model`` by name, and its
    random-init twin), is refused with ``strict`` (the workbench's own analyses), else
    warned about: same-width activations of another site or model would be read without
    a word, and every figure would be wrong.
    """
    recorded = sae.cfg.metadata.hook_name
    hook = hook or recorded
    if hook is None:
        raise SAEMismatchError("The SAE records no hook name: pass hook= explicitly.")
    problems = []
    if recorded is not None and hook != recorded:
        problems.append(f"it was trained at {recorded!r}, not {hook!r}")
    trained_on, model_name = sae.cfg.metadata.model_name, _known_name(model)
    if trained_on and model_name and _same_model(trained_on, model_name) is False:
        problems.append(f"it was trained on model {trained_on!r}, not {model_name!r}")
    if problems:
        message = f"This SAE does not belong here: {' and '.join(problems)}."
        if strict:
            raise SAEMismatchError(
                f"{message} Load the SAE of this model and site (list_saes(MODEL)), or pass "
                "strict=False to apply it anyway (with a warning)."
            )
        warnings.warn(message, stacklevel=2)
    try:
        validate_hooks(model, [hook])
    except HookNameError as err:
        raise SAEMismatchError(f"The SAE's hook does not exist in this model: {err}") from err
    width = hook_width(model, hook)
    if width != sae.cfg.d_in:
        raise SAEMismatchError(
            f"The SAE expects d_in={sae.cfg.d_in} activations but {hook} of this model has "
            f"width {width} (d_model={model.cfg.d_model}, d_mlp={model.cfg.d_mlp}): it was "
            "trained on a different model or site."
        )
    return hook


def _known_name(model: HookedTransformer) -> str | None:
    """The registry name ``load_model`` recorded on ``model`` (``-random-init`` for its
    twin), or None where the model does not know it (TransformerLens's "custom")."""
    from workbench.models.registry import REGISTRY

    name = model.cfg.model_name
    return name if name.removesuffix(RANDOM_INIT) in REGISTRY else None


#: Each model's hook widths, measured once: a width is fixed by the architecture, and
#: ``check_compatible`` asks for it for every SAE scored (a forward pass each time took 22 s
#: of a 246 s ``shipped_coverage_by_layer("othello")`` under load, cProfile, 100 games).
#: Weak keys: a model's entry goes with it.
_WIDTHS: weakref.WeakKeyDictionary[HookedTransformer, dict[str, int]] = weakref.WeakKeyDictionary()


def hook_width(model: HookedTransformer, hook: str) -> int:
    """Width of the activations at ``hook`` (one forward pass on a two-token input, the
    first time this model is asked about this hook)."""
    validate_hooks(model, [hook])
    widths = _WIDTHS.setdefault(model, {})
    if hook not in widths:
        tokens = torch.ones(1, 2, dtype=torch.long)
        _, cache = model.run_with_cache(tokens, names_filter=[hook])
        widths[hook] = cache[hook].shape[-1]
    return widths[hook]
