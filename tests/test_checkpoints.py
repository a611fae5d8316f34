import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.checkpoints import (
    CheckpointError,
    CheckpointFolder,
    CheckpointWarning,
    RunLockedError,
    keep_records_until,
)
from workbench.outputs import OutputFolderError


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
    store.release()  # the run ended
    CheckpointFolder(store.folder, {"k": 8, "levels": (1, 2)}).claim()  # same run: resumes


def test_committing_keeps_the_last_two_checkpoints_and_drops_only_older_ones(tmp_path):
    store = CheckpointFolder(tmp_path, {}, checkpoint_glob="ckpt-*")
    for step in (1, 2):
        (tmp_path / f"ckpt-{step}").mkdir()
        store.commit(tmp_path / f"ckpt-{step}", {"step": step})
    (tmp_path / "best").mkdir()  # not a checkpoint
    (tmp_path / "ckpt-3").mkdir()
    store.commit(tmp_path / "ckpt-3", {"step": 3})
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["best", "ckpt-2", "ckpt-3"]
    pointer = {"checkpoint": "ckpt-3", "previous": "ckpt-2"}
    assert json.loads((tmp_path / "latest.json").read_text()) == pointer


def test_other_settings_are_refused_naming_what_differs_except_those_that_may_change(tmp_path):
    def folder(**settings):
        store = CheckpointFolder(tmp_path, settings, may_change={"threads"}, start_again="go away")
        return _claim_and_release(store)

    folder(lr=1e-3, threads=1)
    folder(lr=1e-3, threads=4)  # how it runs may change
    assert json.loads((tmp_path / "run.json").read_text())["threads"] == 4  # and is recorded
    diff = r"other settings \(saved, now\): \{'lr': \(0.001, 0.5\)\}"
    with pytest.raises(ValueError, match=diff):
        folder(lr=0.5, threads=4)
    with pytest.raises(ValueError, match=r"'seed': \(None, 3\)\}\. Resume .* or go away\."):
        folder(lr=1e-3, threads=4, seed=3)  # a setting the saved run did not have


def _claim_and_release(store: CheckpointFolder) -> CheckpointFolder:
    store.claim()
    store.release()
    return store


def _committed(store: CheckpointFolder, *steps: int) -> None:
    for step in steps:
        (store.folder / f"ckpt-{step}").mkdir()
        store.commit(store.folder / f"ckpt-{step}", {"step": step})


_HOLDER = """
import sys, time
from workbench.checkpoints import CheckpointFolder
store = CheckpointFolder(sys.argv[1], {})
store.claim()
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_writer_is_refused_with_the_holders_pid_and_a_dead_ones_lock_is_taken_over(
    tmp_path,
):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=rf"in use by another run \(PID {holder.pid}\b"):
            CheckpointFolder(tmp_path, {}).claim()
    finally:
        holder.kill()
        holder.wait()
    store = CheckpointFolder(tmp_path, {})
    with pytest.warns(CheckpointWarning, match=rf"lock left by PID {holder.pid}\b"):
        store.claim()  # killed: its lock is stale
    with pytest.raises(RunLockedError, match=rf"in use by this process \(PID {os.getpid()}\b"):
        CheckpointFolder(tmp_path, {}).claim()
    store.release()
    _claim_and_release(CheckpointFolder(tmp_path, {}))


def test_a_folder_that_is_no_run_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match=r"holds files that are not a run's \(notes.txt\)"):
        CheckpointFolder(tmp_path, {}).claim()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(OutputFolderError, match="never replaces"):
        CheckpointFolder(Path.cwd(), {}).claim()


def test_paths_are_compared_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "start").mkdir()
    _claim_and_release(CheckpointFolder("run", {"init_from": "start"}, paths={"init_from"}))
    again = CheckpointFolder(
        tmp_path / "run", {"init_from": str(tmp_path / "start")}, paths={"init_from"}
    )
    _claim_and_release(again)  # the same folders, written otherwise
    with pytest.raises(ValueError, match="other settings"):
        _claim_and_release(CheckpointFolder("run", {"init_from": "other"}, paths={"init_from"}))


def test_a_corrupt_latest_json_falls_back_to_the_newest_whole_checkpoint_saying_so(tmp_path):
    store = CheckpointFolder(tmp_path, {}, checkpoint_glob="ckpt-*")
    _committed(store, 1, 2)
    (tmp_path / "latest.json").write_text('{"checkpoint": "ckpt-')  # cut short
    with pytest.warns(
        CheckpointWarning, match=r"from the checkpoint ckpt-2, .*latest.json: JSONDecodeError"
    ):
        assert CheckpointFolder(tmp_path, {}, checkpoint_glob="ckpt-*").latest() == (
            tmp_path / "ckpt-2",
            {"step": 2},
        )


def test_an_unreadable_newest_checkpoint_falls_back_to_the_one_before_saying_so(tmp_path):
    store = CheckpointFolder(tmp_path, {}, checkpoint_glob="ckpt-*")
    _committed(store, 1, 2)

    def load(checkpoint, state):
        if state["step"] == 2:
            raise ValueError("optimizer.pt is truncated")

    again = CheckpointFolder(tmp_path, {}, checkpoint_glob="ckpt-*")
    with pytest.warns(
        CheckpointWarning, match=r"from the checkpoint ckpt-1, .*ckpt-2: ValueError: optimizer.pt"
    ):
        assert again.latest(load=load) == (tmp_path / "ckpt-1", {"step": 1})
    _committed(again, 3)  # the corrupt one is dropped, the one resumed from kept
    assert json.loads((tmp_path / "latest.json").read_text()) == {
        "checkpoint": "ckpt-3",
        "previous": "ckpt-1",
    }
    assert not (tmp_path / "ckpt-2").exists()
    (tmp_path / "ckpt-3" / "state.json").write_text("{")
    (tmp_path / "ckpt-1" / "state.json").unlink()
    with pytest.raises(CheckpointError, match=r"No checkpoint .* can be read .*ckpt-3.*ckpt-1"):
        CheckpointFolder(tmp_path, {}, start_again="go away").latest()


def test_metrics_past_the_checkpoint_and_lines_cut_short_are_dropped(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"ste')
    keep_records_until(log, 2)
    assert log.read_text() == '{"step": 1}\n{"step": 2}\n'
    keep_records_until(log, 0)
    assert log.read_text() == ""
