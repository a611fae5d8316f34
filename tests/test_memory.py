"""The process's resident memory: a peak measured around one allocation matches its size."""

import sys

import numpy as np
import pytest

from workbench import memory

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")


@linux
def test_a_peak_around_an_allocation_is_its_size():
    if not memory.reset_peak():
        pytest.skip("/proc/self/clear_refs is not writable here")
    before = memory.resident_bytes()
    assert memory.peak_resident_bytes() >= before > 0
    block = np.ones(64 * 2**20, dtype=np.uint8)  # 64 MiB, touched
    grown = memory.peak_resident_bytes() - before
    assert 0.9 * block.nbytes <= grown <= 1.3 * block.nbytes
    del block


@linux
def test_a_missing_field_is_a_clear_error(monkeypatch, tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\n")
    monkeypatch.setattr(memory, "STATUS", status)
    with pytest.raises(memory.MemoryReadError, match="no 'VmHWM' line"):
        memory.peak_resident_bytes()
    monkeypatch.setattr(memory, "STATUS", tmp_path / "absent")
    with pytest.raises(memory.MemoryReadError, match="Linux only"):
        memory.resident_bytes()
