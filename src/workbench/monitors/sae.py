"""Monitors that read activations through a sparse autoencoder (any sae-lens SAE).

Only the SAE's identity is saved with the monitor (its source, hook, widths and a
fingerprint of its weights); ``load_monitor(folder, sae=...)`` takes the SAE back and
checks it is the same one.

``sae-error`` (unsupervised, nothing fitted): score = ``|x - decode(encode(x))|^2``, or that
divided by ``|x|^2`` with ``normalise``: clean-like inputs are what the SAE learned to
reconstruct.

``sae-rare`` (unsupervised, fitted on clean activations):
1. The firing frequency ``f_j`` of every feature (share of clean rows where it is > 0).
2. Score = ``sum over features active at x of -log(f_j + eps)``: the surprise of the
   features this position uses (never-seen features count ``-log(eps)``).

``sae-sparse``, the supervised one, is in ``sae_sparse.py``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import torch
from jaxtyping import Float
from torch import Tensor

from workbench.monitors.base import Monitor, MonitorInputError, check_labelled, register
from workbench.saes.loading import SAEMismatchError

if TYPE_CHECKING:
    from sae_lens import SAE

CHUNK = 4096  # rows encoded at a time (n x d_sae features can be large)


def sae_identity(sae: SAE, source: str | None = None) -> dict:
    """What the JSON records of an SAE: enough to find it again and to check it is the one.
    ``source``: how to load it, e.g. a folder or ``"gpt2-small-res-jb/blocks.8.hook_resid_pre"``."""
    digest = hashlib.sha256()
    for name, tensor in sorted(sae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    meta = sae.cfg.metadata
    return {
        "source": source,
        "model_name": meta.model_name,
        "hook_name": meta.hook_name,
        "architecture": sae.cfg.architecture(),
        "d_in": sae.cfg.d_in,
        "d_sae": sae.cfg.d_sae,
        "fingerprint": digest.hexdigest()[:16],  # sha256 of the float32 weights
    }


def sae_hook(sae: SAE, hook: str | None) -> str:
    recorded = sae.cfg.metadata.hook_name
    if hook is None and recorded is None:
        raise SAEMismatchError("The SAE records no hook name: pass hook= explicitly.")
    if hook is not None and recorded is not None and hook != recorded:
        raise SAEMismatchError(f"The SAE was trained on {recorded}, not on {hook}.")
    return hook or recorded


@dataclass(kw_only=True, eq=False)
class SAEMonitor(Monitor):
    """Shared by the SAE kinds: the SAE (not saved) and its identity (saved)."""

    INFO: ClassVar = ("sae_info",)

    sae: SAE = field(repr=False)
    sae_info: dict  # sae_identity(sae, source)

    @torch.no_grad()
    def encode(self, x: Float[Tensor, "n d_model"]) -> Float[Tensor, "n d_sae"]:
        """The SAE's feature activations (float32, on ``x``'s device), in chunks."""
        p = next(self.sae.parameters())
        out = [
            self.sae.encode(c.to(p.device, p.dtype)).float().to(x.device) for c in x.split(CHUNK)
        ]
        return torch.cat(out)

    @classmethod
    def _from_saved(cls, fields: dict, sae: SAE | None) -> Monitor:
        info = fields["sae_info"]
        if sae is None:
            raise MonitorInputError(
                f"This {cls.kind} monitor scores through an SAE ({_describe(info)}); its weights "
                "are not saved with it: load the SAE and pass it, load_monitor(folder, sae=sae)."
            )
        if (sae.cfg.d_in, sae.cfg.d_sae) != (info["d_in"], info["d_sae"]):
            raise SAEMismatchError(
                f"This {cls.kind} monitor was fitted with an SAE of d_in={info['d_in']}, "
                f"d_sae={info['d_sae']} ({_describe(info)}), but was given one of "
                f"d_in={sae.cfg.d_in}, d_sae={sae.cfg.d_sae}."
            )
        given = sae_identity(sae)["fingerprint"]
        if given != info["fingerprint"]:
            raise SAEMismatchError(
                f"The SAE given has other weights (fingerprint {given}) than the one this "
                f"{cls.kind} monitor was fitted with ({_describe(info)}, fingerprint "
                f"{info['fingerprint']}): another SAE, or the same one in another dtype."
            )
        return cls(**fields, sae=sae)


def _describe(info: dict) -> str:
    where = f"source {info['source']!r}, " if info.get("source") else ""
    return f"{where}{info['architecture']} SAE of {info['model_name']} at {info['hook_name']}"


@dataclass(frozen=True)
class SAEErrorConfig:
    normalise: bool = False  # divide by |x|^2: the share of the activation not reconstructed


@register
@dataclass(kw_only=True, eq=False)
class SAEErrorMonitor(SAEMonitor):
    kind: ClassVar = "sae-error"
    Config: ClassVar = SAEErrorConfig

    config: SAEErrorConfig

    @torch.no_grad()
    def _score(self, x: Float[Tensor, "n d_model"]) -> Float[Tensor, " n"]:
        p = next(self.sae.parameters())
        out = []
        for c in x.split(CHUNK):
            c = c.to(p.device, p.dtype)
            err = (c - self.sae.decode(self.sae.encode(c))).float().pow(2).sum(-1)
            if self.config.normalise:
                err = err / c.float().pow(2).sum(-1).clamp_min(1e-12)
            out.append(err.to(x.device))
        return torch.cat(out)


def sae_error_monitor(
    sae: SAE,
    *,
    hook: str | None = None,
    config: SAEErrorConfig = SAEErrorConfig(),
    source: str | None = None,
    notes: str = "",
) -> SAEErrorMonitor:
    """The SAE's reconstruction error as a monitor (nothing to fit)."""
    hook = sae_hook(sae, hook)
    info = sae_identity(sae, source)
    return SAEErrorMonitor(
        hook=hook,
        d_model=sae.cfg.d_in,
        n_fit={"pos": 0, "neg": 0},
        notes=notes,
        config=config,
        sae=sae,
        sae_info=info,
    )


@dataclass(frozen=True)
class SAERareConfig:
    eps: float | None = None  # added to every frequency; None: 1 / (clean rows fitted on)


@register
@dataclass(kw_only=True, eq=False)
class SAERareMonitor(SAEMonitor):
    kind: ClassVar = "sae-rare"
    Config: ClassVar = SAERareConfig
    TENSORS: ClassVar = ("frequency", "surprise")

    config: SAERareConfig
    frequency: Float[Tensor, " d_sae"]  # share of clean rows where each feature fires
    surprise: Float[Tensor, " d_sae"]  # -log(frequency + eps): what each active feature adds

    def _score(self, x: Float[Tensor, "n d_model"]) -> Float[Tensor, " n"]:
        return (self.encode(x) > 0).float() @ self.surprise.to(x.device)


def fit_sae_rare(
    x: Float[Tensor, "n d_model"],
    sae: SAE,
    *,
    hook: str | None = None,
    config: SAERareConfig = SAERareConfig(),
    source: str | None = None,
    notes: str = "",
) -> SAERareMonitor:
    """Fit the features' firing frequencies on clean activations ``x``."""
    hook = sae_hook(sae, hook)
    check_labelled(x, None, need_both=False)
    n = x.shape[0]
    info = sae_identity(sae, source)
    m = SAERareMonitor(
        hook=hook,
        d_model=sae.cfg.d_in,
        n_fit={"pos": 0, "neg": n},
        notes=notes,
        config=config,
        sae=sae,
        sae_info=info,
        frequency=torch.zeros(sae.cfg.d_sae),
        surprise=torch.zeros(sae.cfg.d_sae),
    )
    m._check_width(x)
    fired = sum((m.encode(c) > 0).double().sum(0).cpu() for c in x.split(CHUNK))
    m.frequency = (fired / n).float()
    eps = 1.0 / n if config.eps is None else config.eps
    m.surprise = -torch.log(fired / n + eps).float()
    return m
