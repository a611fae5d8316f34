import json

import pytest

from workbench.checkpoints import CheckpointFolder


def test_a_checkpoint_not_yet_pointed_to_is_never_read(tmp_path):
    store = CheckpointFolder(tmp_path / "run", {"k": 8, "levels": (1, 2)})
    store.claim()
    assert store.latest() is None
    whole = store.folder / "2048"
    whole.mkdir()
    store.commit(whole, {"samples": 2048})
    (store.folder / "4096").mkdir()  # a later checkpoint cut short before it was committed
    assert store.latest() == (whole, {"samples": 2048})
    assert json.loads((store.folder / "run.json").read_text()) == {"k": 8, "levels": [1, 2]}
    CheckpointFolder(store.folder, {"k": 8, "levels": (1, 2)}).claim()  # same run: resumes


def test_committing_drops_only_older_checkpoints(tmp_path):
    store = CheckpointFolder(tmp_path, {}, checkpoint_glob="ckpt-*")
    for step in (1, 2):
        (tmp_path / f"ckpt-{step}").mkdir()
        store.commit(tmp_path / f"ckpt-{step}", {"step": step})
    (tmp_path / "best").mkdir()  # not a checkpoint
    (tmp_path / "ckpt-3").mkdir()
    store.commit(tmp_path / "ckpt-3", {"step": 3})
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["best", "ckpt-3"]


def test_other_settings_are_refused_naming_what_differs_except_those_that_may_change(tmp_path):
    def folder(**settings):
        return CheckpointFolder(tmp_path, settings, may_change={"threads"}, start_again="go away")

    folder(lr=1e-3, threads=1).claim()
    folder(lr=1e-3, threads=4).claim()  # how it runs may change
    assert json.loads((tmp_path / "run.json").read_text())["threads"] == 4  # and is recorded
    diff = r"other settings \(saved, now\): \{'lr': \(0.001, 0.5\)\}"
    with pytest.raises(ValueError, match=diff):
        folder(lr=0.5, threads=4).claim()
    with pytest.raises(ValueError, match=r"'seed': \(None, 3\)\}\. Resume .* or go away\."):
        folder(lr=1e-3, threads=4, seed=3).claim()  # a setting the saved run did not have
