"""Stop a long job cleanly: the first SIGINT / SIGTERM asks it to checkpoint and stop."""

from __future__ import annotations

import signal
import sys
import threading

from tqdm.auto import tqdm


class StopSignals:
    """While entered, SIGINT and SIGTERM set ``requested`` instead of ending the process.

    A second signal acts as it did before (its old handler is put back at the first), and
    leaving restores them all. Outside the main thread, where Python cannot set handlers,
    it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not None:  # None: set outside Python; left alone
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame) -> None:
        self.requested = True
        self._restore(signum)
        tqdm.write(
            f"{signal.Signals(signum).name}: stopping after this step, with a checkpoint "
            "(send it again to stop at once, without one)"
        )

    def _restore(self, signum: int) -> None:
        if signum in self._previous:
            signal.signal(signum, self._previous.pop(signum))

    def __exit__(self, *exc) -> None:
        for sig in list(self._previous):
            self._restore(sig)


#: The exit status of a command stopped by SIGINT / SIGTERM (128 + SIGINT, as shells report
#: a job ended by Ctrl-C), so ``train && ship`` never ships a half-trained model.
INTERRUPTED = 130


def exit_if_interrupted(interrupted: bool, step: int, folder) -> None:
    """End the command with ``INTERRUPTED`` after a signal stopped its run at ``step``."""
    if interrupted:
        sys.stderr.write(
            f"Stopped by a signal at step {step:,}; the checkpoint in {folder} resumes it: run "
            "the same command again.\n"
        )
        raise SystemExit(INTERRUPTED)
