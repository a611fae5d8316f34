import pytest
from tqdm import tqdm

import workbench.progress as progress
from workbench.progress import Steps


@pytest.fixture
def bars(monkeypatch):
    closed = []

    class Recording(tqdm):
        def close(self):
            if not getattr(self, "_recorded", False):
                self._recorded = True
                closed.append((self.n, self.total))
            super().close()

    monkeypatch.setattr(progress, "tqdm", Recording)
    return closed


def test_steps_end_at_their_total_with_each_steps_time(bars):
    with Steps("load", ["one", "two", "three"]) as step:
        step("one")
        step("three")  # a step skipped counts as done
    assert bars == [(3, 3)]
    assert list(step.seconds) == ["one", "three"]


def test_a_step_that_raises_leaves_the_bar_short(bars):
    with pytest.raises(OSError), Steps("load", ["one", "two"]) as step:
        step("one")
        step("two")
        raise OSError("no file")
    assert bars == [(1, 2)]  # red in a notebook, not green


def test_a_step_the_total_does_not_count_is_refused(bars):
    with pytest.raises(ValueError), Steps("load", ["one"]) as step:
        step("two")
