"""The process's resident memory: a peak measured around one allocation matches its size."""

import json
import subprocess
import sys

import pytest

from workbench import memory

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")


PEAK_SCRIPT = """
import json, numpy as np
from workbench import memory
if not memory.reset_peak():
    print(json.dumps(None)); raise SystemExit
before = memory.resident_bytes()
block = np.ones(64 * 2**20, dtype=np.uint8)  # 64 MiB, touched
print(json.dumps({"before": before, "peak": memory.peak_resident_bytes(), "nbytes": block.nbytes}))
"""


@linux
def test_a_peak_around_an_allocation_is_its_size():
    # in a fresh interpreter: a long-lived one (the test session) reuses freed memory
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    measured = json.loads(out.strip().splitlines()[-1])
    if measured is None:
        pytest.skip("/proc/self/clear_refs is not writable here")
    grown = measured["peak"] - measured["before"]
    assert measured["before"] > 0
    assert 0.9 * measured["nbytes"] <= grown <= 1.3 * measured["nbytes"]


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
