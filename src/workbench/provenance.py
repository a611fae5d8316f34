"""What a recorded result says about how it was made, written by the command that made it.

A sweep record (``data/sweeps/*.json``) is only worth keeping if a reader can tell which
weights it scored, when, on what machine and why. Those fields used to be typed in by
hand after the run; here the command writes them itself:

1. ``fingerprint``: a hash of a module's parameter names, shapes, dtypes and values, so
   a record names the exact weights it scored (a model, an SAE, a random-init twin), and
   a later reader can check them against what is shipped now.
2. ``hardware``: the device and the number of torch threads the run had.
3. ``RunRecord``: started when the work starts; ``fields()`` at the end gives the date
   (UTC, start-end), the seconds taken, the hardware, the fingerprints and the note.
"""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import torch


def fingerprint(module: torch.nn.Module) -> str:
    """A hash of ``module``'s parameter and buffer names, shapes, dtypes and values (16 hex
    digits): equal for equal weights, whatever device or object holds them."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:16]


def hardware(device: str = "cpu") -> str:
    """``NVIDIA H200`` on CUDA; on the CPU its kind and the torch threads in use."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


@dataclass
class RunRecord:
    """The provenance of one run on the CPU: create it before the work, call ``fields`` after."""

    note: str | None = None  # why the run was made (the command's ``--note``)
    weights: dict[str, str] = field(default_factory=dict)  # what was scored -> fingerprint
    started: datetime = field(default_factory=lambda: datetime.now(UTC), init=False)
    _clock: float = field(default_factory=time.perf_counter, init=False, repr=False)

    def add_weights(self, name: str, module: torch.nn.Module) -> None:
        """Record ``module``'s fingerprint under ``name`` (e.g. ``model othello-gpt-8l``)."""
        self.weights[name] = fingerprint(module)

    def fields(self) -> dict:
        """``date``, ``seconds``, ``hardware``, ``weights`` and (if given) ``note``."""
        end = datetime.now(UTC)
        span = f"{self.started:%Y-%m-%d %H:%M}-{end:%H:%M} UTC"
        if end.date() != self.started.date():
            span = f"{self.started:%Y-%m-%d %H:%M}-{end:%Y-%m-%d %H:%M} UTC"
        record = {
            "date": span,
            "seconds": round(time.perf_counter() - self._clock, 1),
            "hardware": hardware(),
            "weights": dict(self.weights),
        }
        if self.note:
            record["note"] = self.note
        return record
