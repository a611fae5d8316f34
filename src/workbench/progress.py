"""A progress bar over named steps, for a call whose seconds go to a few distinct steps.

``import workbench`` and a notebook's import cell import no TransformerLens, sae-lens or
transformers (seconds); the first cell that loads a model pays for them, under a bar
that says so (``load_model``: "import TransformerLens", "read the weights", "build the
model"). The bar is tqdm's, as elsewhere in the package: a widget in a notebook that
ends green at its total, or red where a step raised.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from tqdm.auto import tqdm


def imported(module: str) -> bool:
    """Whether ``module`` is imported already in this session (importing it again is free)."""
    return module in sys.modules


class Steps:
    """``with Steps("load othello", ["import TransformerLens", "build the model"]) as step:``,
    then ``step(name)`` as each step starts: the bar names the step running, counts those
    before it done, and at the end of the block stands at its total with each step's time.

    A name not in ``names`` raises ``ValueError``: the total is the list, never a guess.
    """

    def __init__(self, desc: str, names: Sequence[str], *, progress: bool = True) -> None:
        self.names = list(names)
        self.seconds: dict[str, float] = {}  # each step's wall time, once it is done
        self._current: tuple[str, float] | None = None
        self.bar = tqdm(
            total=len(self.names), desc=desc, unit="step", disable=not progress, leave=True
        )

    def __enter__(self) -> Steps:
        return self

    def __call__(self, name: str) -> None:
        index = self.names.index(name)  # ValueError for a step the total does not count
        self._finish_current()
        self.bar.update(index - self.bar.n)  # the steps before it are done
        self.bar.set_postfix_str(name)
        self._current = (name, time.perf_counter())

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:  # done: at its total, with where the time went
            self._finish_current()
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.set_postfix_str(", ".join(f"{n} {s:.1f} s" for n, s in self.seconds.items()))
        self.bar.close()  # short of its total (red in a notebook) where a step raised

    def _finish_current(self) -> None:
        if self._current is not None:
            name, start = self._current
            self.seconds[name] = time.perf_counter() - start
            self._current = None
