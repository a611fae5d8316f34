"""The ``Monitor``: a small fitted object that scores activations (higher = "about to do
something bad"), and how monitors save and load.

1. Every kind is a dataclass subclass of ``Monitor`` registered under its name in
   ``MonitorKind``; it names the tensors it keeps (``TENSORS``, saved to
   ``monitor.safetensors``) and any other fitted facts (``INFO``, saved to ``monitor.json``
   with the kind, hook, width, config, fitted-on counts and notes).
2. ``score(x)`` checks the width, flattens the leading dimensions, scores each row with the
   kind's ``_score`` and restores the leading shape.
3. ``load_monitor(folder, sae=None)`` reads the two files back into the registered class; an
   SAE-based monitor needs its SAE passed back in (only its identity is saved).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, get_args

import torch
from jaxtyping import Bool, Float
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from workbench.models.io import atomic_write, write_json

if TYPE_CHECKING:
    from sae_lens import SAE

MonitorKind = Literal["probe", "mean-diff", "mahalanobis", "sae-error", "sae-rare", "sae-sparse"]
MONITOR_KINDS: tuple[str, ...] = get_args(MonitorKind)
SUPERVISED_KINDS = ("probe", "mean-diff", "sae-sparse")  # need positives and negatives
SAE_KINDS = ("sae-error", "sae-rare", "sae-sparse")  # need an SAE to score

JSON_FILE = "monitor.json"
TENSORS_FILE = "monitor.safetensors"
FORMAT = 1  # version of the saved layout


class MonitorFileError(ValueError):
    """A monitor file is missing, corrupted or does not describe a monitor."""


class MonitorInputError(ValueError):
    """Activations or labels a monitor cannot use (wrong width, wrong hook, one class)."""


def check_kind(kind: str) -> None:
    if kind not in MONITOR_KINDS:
        raise ValueError(f"Unknown monitor kind {kind!r}; valid kinds: {list(MONITOR_KINDS)}.")


_REGISTRY: dict[str, type[Monitor]] = {}


def register(cls: type[Monitor]) -> type[Monitor]:
    """Class decorator: make ``cls`` the monitor of kind ``cls.kind`` (for loading)."""
    check_kind(cls.kind)
    _REGISTRY[cls.kind] = cls
    return cls


def monitor_class(kind: str) -> type[Monitor]:
    check_kind(kind)
    return _REGISTRY[kind]


@dataclass(kw_only=True, eq=False)  # eq=False: compared by identity (fields hold tensors)
class Monitor:
    hook: str  # the site whose activations it reads
    d_model: int  # their width
    n_fit: dict[str, int] = field(default_factory=dict)  # {"pos": n, "neg": n} fitted on
    notes: str = ""  # free text kept in the JSON (e.g. which contrast pairs)

    kind: ClassVar[MonitorKind]
    TENSORS: ClassVar[tuple[str, ...]] = ()  # fields saved to monitor.safetensors
    INFO: ClassVar[tuple[str, ...]] = ()  # other fields saved to monitor.json

    def score(
        self, x: Float[Tensor, "... d_model"], *, hook: str | None = None
    ) -> Float[Tensor, "..."]:
        """One score per row of ``x`` (higher = more suspicious), as float32 on ``x``'s
        device. ``hook``, if given, must be the monitor's (catches a layer mix-up)."""
        if hook is not None and hook != self.hook:
            raise MonitorInputError(
                f"This {self.kind} monitor reads {self.hook}, but was given activations "
                f"from {hook}."
            )
        self._check_width(x)
        with torch.no_grad():
            flat = x.reshape(-1, self.d_model)
            scores = self._score(flat) if flat.shape[0] else flat.new_zeros(0)
        return scores.float().to(x.device).reshape(x.shape[:-1])

    def _check_width(self, x: Tensor) -> None:
        if x.ndim == 0 or x.shape[-1] != self.d_model:
            width = "a scalar" if x.ndim == 0 else f"width {x.shape[-1]}"
            raise MonitorInputError(
                f"This {self.kind} monitor reads {self.hook} with d_model={self.d_model}, "
                f"but was given {width} (shape {tuple(x.shape)})."
            )

    def _score(self, x: Float[Tensor, "n d_model"]) -> Float[Tensor, " n"]:
        raise NotImplementedError

    def save(self, folder: str | Path) -> Path:
        """Write ``monitor.safetensors`` and ``monitor.json`` into ``folder`` (atomically)."""
        folder = Path(folder)
        tensors = {name: getattr(self, name).detach().cpu().contiguous() for name in self.TENSORS}
        atomic_write(folder / TENSORS_FILE, lambda p: save_file(tensors, str(p)))
        meta = {
            "format": FORMAT,
            "kind": self.kind,
            "hook": self.hook,
            "d_model": self.d_model,
            "config": asdict(self.config) if hasattr(self, "config") else {},
            "n_fit": self.n_fit,
            "notes": self.notes,
            "info": {name: getattr(self, name) for name in self.INFO},
        }
        write_json(folder / JSON_FILE, meta)
        return folder

    @classmethod
    def _from_saved(cls, fields: dict, sae: SAE | None) -> Monitor:
        """Build from the saved fields; SAE-based kinds override to take ``sae``."""
        return cls(**fields)


def load_monitor(folder: str | Path, sae: SAE | None = None) -> Monitor:
    """A monitor saved with ``Monitor.save``; SAE-based kinds need ``sae`` passed back in."""
    folder = Path(folder)
    meta = _read_json(folder / JSON_FILE)
    path = folder / TENSORS_FILE
    if not path.exists():
        raise MonitorFileError(f"Monitor tensors file {path} does not exist.")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise MonitorFileError(f"Could not read {path} (corrupted?): {err}") from err
    cls = _REGISTRY[meta["kind"]]
    missing = sorted(set(cls.TENSORS) - set(tensors))
    if missing:
        raise MonitorFileError(f"{path} lacks the {meta['kind']} monitor's tensors {missing}.")
    fields = {k: meta[k] for k in ("hook", "d_model", "n_fit", "notes")}
    fields |= {name: tensors[name] for name in cls.TENSORS}
    try:
        fields |= {name: meta["info"][name] for name in cls.INFO}
        if hasattr(cls, "Config"):
            fields["config"] = cls.Config(**meta["config"])
    except (KeyError, TypeError) as err:
        raise MonitorFileError(
            f"{folder / JSON_FILE} does not describe a {meta['kind']} monitor: {err!r}"
        ) from err
    monitor = cls._from_saved(fields, sae)
    try:  # tensors of the wrong shape fail here, not at the caller's first score
        monitor.score(torch.zeros(1, monitor.d_model))
    except RuntimeError as err:
        raise MonitorFileError(
            f"The tensors in {path} do not fit a {meta['kind']} monitor of "
            f"d_model={monitor.d_model}: {err}"
        ) from err
    return monitor


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise MonitorFileError(
            f"No {path.name} in {path.parent}: a saved monitor folder holds "
            f"{JSON_FILE} and {TENSORS_FILE}."
        )
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MonitorFileError(f"{path} is not valid JSON (corrupted?): {err}") from err
    need = ("kind", "hook", "d_model", "config", "n_fit", "notes", "info")
    if not isinstance(meta, dict) or any(k not in meta for k in need):
        raise MonitorFileError(f"{path} does not describe a monitor: it needs the keys {need}.")
    if meta["kind"] not in MONITOR_KINDS:
        raise MonitorFileError(
            f"{path} names monitor kind {meta['kind']!r}; valid kinds: {list(MONITOR_KINDS)}."
        )
    return meta


def check_labelled(
    x: Float[Tensor, "n d_model"], y: Bool[Tensor, " n"] | None, *, need_both: bool
) -> None:
    """Refuse activations that are not (n, d_model) or labels that do not match them."""
    if x.ndim != 2:
        raise MonitorInputError(f"Fit on activations of shape (n, d_model), got {tuple(x.shape)}.")
    if x.shape[0] == 0:
        raise MonitorInputError("Fit on at least one activation row, got none.")
    if y is None:
        return
    if y.shape != (x.shape[0],):
        raise MonitorInputError(
            f"Labels must have shape ({x.shape[0]},) to match x, got {tuple(y.shape)}."
        )
    n_pos = int(y.bool().sum())
    if need_both and n_pos in (0, y.shape[0]):
        raise MonitorInputError(
            f"A supervised monitor needs both classes, got n_pos={n_pos}, "
            f"n_neg={y.shape[0] - n_pos}."
        )


def check_width(x: Tensor, d_model: int, what: str) -> None:
    if x.shape[-1] != d_model:
        raise MonitorInputError(f"{what} has width {x.shape[-1]}, expected d_model={d_model}.")
