"""This process's resident memory, read from ``/proc/self/status`` (Linux): now, its peak,
and resetting the peak, so a peak can be measured around one piece of work.

    reset_peak()                       # False where the kernel does not allow it
    before = resident_bytes()
    ...                                # the work
    peak_above_start = peak_resident_bytes() - before
"""

from __future__ import annotations

from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


class MemoryReadError(OSError):
    """The process's memory cannot be read here (not Linux, or no such field)."""


def _status_bytes(field: str) -> int:
    try:
        lines = STATUS.read_text().splitlines()
    except OSError as err:
        raise MemoryReadError(f"Cannot read {STATUS} (Linux only): {err}") from err
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024  # the kernel writes kB
    raise MemoryReadError(f"{STATUS} has no {field!r} line.")


def resident_bytes() -> int:
    """Resident set size now (``VmRSS``)."""
    return _status_bytes("VmRSS")


def peak_resident_bytes() -> int:
    """The largest resident set size since the process started or ``reset_peak`` (``VmHWM``)."""
    return _status_bytes("VmHWM")


def reset_peak() -> bool:
    """Reset the peak to the current size (``/proc/self/clear_refs``); False if not allowed."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True
