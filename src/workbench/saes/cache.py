"""The SAE activation stream, kept on disk so that SAEs on one model harvest it once.

``saes.train.activation_stream`` plays chunk c of random games from the seed (seed, c),
runs the model over them and shuffles the positions. Training an SAE at every layer
repeats that forward pass once per SAE, and on a CPU it costs more than the SAE itself.
With an ``ActivationCache``:

1. Chunk c's activations at a hook are read from ``folder`` if an earlier run wrote them.
2. Otherwise one forward pass harvests every site the cache covers that is missing for
   chunk c (the hook asked for plus ``hooks``, e.g. every residual site) and writes each
   to its own safetensors file, atomically.
3. The stream shuffles and batches them as before. Same games, same order, float32: a
   cache changes how long training takes, never the batches it trains on.

Files sit under a key made of a fingerprint of the model's weights, the seed and the
chunk size, so another model (a random-init twin, a retrained default) never reads them.
A lock per chunk lets parallel processes share one cache without harvesting a chunk twice.
Size: one file per chunk and site, chunk positions x d_model x 4 bytes (2,048 games and
d_model 256: 124 MB); remove the folder when the SAEs are trained.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jaxtyping import Float
from safetensors.torch import load_file, save_file
from torch import Tensor

from workbench.activations import harvest, validate_hooks
from workbench.models.io import atomic_write
from workbench.othello.engine import GameRecord
from workbench.provenance import fingerprint

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


@dataclass(frozen=True)
class ActivationCache:
    """Harvested stream chunks under ``folder`` (module doc)."""

    folder: Path
    hooks: tuple[str, ...] = ()  # also harvested on a miss, for the SAEs still to come

    def __post_init__(self):
        object.__setattr__(self, "folder", Path(self.folder))

    def stream_dir(self, model: HookedTransformer, *, seed: int, buffer_games: int) -> Path:
        """Where the chunks of ``model``'s stream with this seed and chunk size live."""
        return self.folder / f"{fingerprint(model)}-seed{seed}-games{buffer_games}"

    def chunk(
        self, model: HookedTransformer, games: GameRecord, hook: str, where: Path
    ) -> Float[Tensor, "games pos d"]:
        """``hook``'s activations on ``games``, the chunk stored in folder ``where``."""
        path = where / f"{hook}.safetensors"
        if not path.exists():
            with _locked(where.with_name(where.name + ".lock")):
                if not path.exists():  # another process may have written it meanwhile
                    self._fill(model, games, hook, where)
        return load_file(str(path))["activations"]

    def _fill(self, model: HookedTransformer, games: GameRecord, hook: str, where: Path):
        wanted = validate_hooks(model, list(dict.fromkeys([hook, *self.hooks])))
        missing = [h for h in wanted if not (where / f"{h}.safetensors").exists()]
        acts = harvest(model, games, missing, progress=False).acts
        for name in missing:
            tensors = {"activations": acts[name].contiguous()}
            atomic_write(where / f"{name}.safetensors", lambda p, t=tensors: save_file(t, str(p)))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
