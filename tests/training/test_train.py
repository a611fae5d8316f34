import json
import os
import signal

import pytest
import torch

from workbench.checkpoints import CheckpointWarning, RunLockedError
from workbench.models.config import OthelloGPTConfig
from workbench.models.io import load_model_folder
from workbench.training.data import make_batch
from workbench.training.train import TrainConfig, Trainer, lr_at, train

from helpers import TINY, tiny_train_config


def test_a_few_steps_reduce_the_loss_and_write_outputs(tmp_path):
    cfg = tiny_train_config(tmp_path, max_steps=40, eval_every=20, checkpoint_every=20, lr=3e-3)
    state = train(cfg)
    assert state.step == 40
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [20, 40]
    assert lines[-1]["loss"] < 4.0  # uniform over 61 tokens would be ln 61 = 4.11
    model = load_model_folder(tmp_path / "best")
    assert model.cfg.n_layers == TINY.n_layers


def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path):
    straight = Trainer(tiny_train_config(tmp_path / "a"))
    straight.run()
    first = Trainer(tiny_train_config(tmp_path / "b", max_minutes=0.0))  # stops after one step
    first.run()
    assert first.state.step == 1
    resumed = Trainer(tiny_train_config(tmp_path / "b"))
    assert resumed.state.step == 1
    resumed.run()
    for (name, a), (_, b) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_run_with_a_checkpoint(tmp_path, signum):
    class SignalledAtStepTwo(Trainer):
        def train_step(self, batch):
            loss = super().train_step(batch)
            if self.state.step == 1:  # the second step: the counter moves after it
                signal.raise_signal(signum)
            return loss

    before = signal.getsignal(signum)
    state = SignalledAtStepTwo(tiny_train_config(tmp_path)).run()
    assert state.step == 2  # the process lived on, and the loop stopped after that step
    assert json.loads((tmp_path / "latest.json").read_text()) == {"checkpoint": "ckpt-0000002"}
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 2  # evaluated on the way out
    assert signal.getsignal(signum) is before  # the handler is put back
    assert Trainer(tiny_train_config(tmp_path)).state.step == 2  # and it resumes there


def test_changed_config_is_refused_on_resume(tmp_path):
    train(tiny_train_config(tmp_path, max_steps=3))
    with pytest.raises(ValueError, match=r"other settings .*choose a new out_dir"):
        Trainer(tiny_train_config(tmp_path, max_steps=3, lr=0.5))


def test_batches_are_deterministic_and_targets_are_distributions():
    a, b = make_batch(4, seed=1, step=5), make_batch(4, seed=1, step=5)
    assert torch.equal(a.tokens, b.tokens)
    sums = a.targets.sum(-1)
    assert torch.allclose(sums[a.mask], torch.ones_like(sums[a.mask]))
    assert (sums[~a.mask] == 0).all()
    sampled = make_batch(4, seed=1, step=5, target="sampled")
    # the sampled move is always one of the exact targets
    assert ((sampled.targets > 0) <= (a.targets > 0)).all()


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(110, cfg) == pytest.approx(0.1)


def test_init_from_starts_at_the_saved_weights_and_counts_their_games(tmp_path):
    train(tiny_train_config(tmp_path / "first", max_steps=4, eval_every=4, checkpoint_every=4))
    start = load_model_folder(tmp_path / "first" / "best")
    cfg = tiny_train_config(
        tmp_path / "second", max_steps=2, seed=1, init_from=str(tmp_path / "first" / "best")
    )
    trainer = Trainer(cfg)
    for (name, a), (_, b) in zip(
        start.state_dict().items(), trainer.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name  # not a fresh initialisation
    first_games = json.loads((tmp_path / "first" / "best" / "card.json").read_text())
    # The start folder replaced after the run began (a model shipped over it): the card
    # still describes the weights the run started from.
    (tmp_path / "first" / "best" / "card.json").write_text(json.dumps({"games_seen": 10**9}))
    trainer.run()
    card = json.loads((tmp_path / "second" / "best" / "card.json").read_text())
    assert card["init_from"]["games_seen"] == first_games["games_seen"]
    assert card["games_seen"] == first_games["games_seen"] + card["step"] * cfg.batch_games


def test_init_from_another_architecture_is_refused(tmp_path):
    train(tiny_train_config(tmp_path / "first", max_steps=1))
    other = OthelloGPTConfig(n_layers=1, d_model=32, n_heads=2, d_mlp=64)
    cfg = tiny_train_config(tmp_path / "second", init_from=str(tmp_path / "first" / "best"))
    cfg.model = other
    with pytest.raises(ValueError, match="choose the preset that matches"):
        Trainer(cfg)


def _metric_steps(folder) -> list[int]:
    return [json.loads(x)["step"] for x in (folder / "metrics.jsonl").read_text().splitlines()]


class _Killed(Exception):
    """Stands for a kill: the process ends at once, with no checkpoint on the way out."""


def _killed_at(step: int):
    class KilledAt(Trainer):
        def train_step(self, batch):
            if self.state.step == step:
                raise _Killed
            return super().train_step(batch)

    return KilledAt


@pytest.mark.parametrize("killed_at", [2, 4])  # before the first checkpoint (3), and after it
def test_a_killed_run_resumed_logs_each_step_once(tmp_path, killed_at):
    cfg = tiny_train_config(tmp_path, eval_every=1, checkpoint_every=3)
    with pytest.raises(_Killed):
        _killed_at(killed_at)(cfg).run()
    assert _metric_steps(tmp_path) == list(range(1, killed_at + 1))  # logged past the checkpoint
    Trainer(cfg).run()
    assert _metric_steps(tmp_path) == [1, 2, 3, 4, 5, 6]


def test_a_run_resumes_from_a_relative_path_and_after_its_folder_moved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train(tiny_train_config("runs/a", max_steps=3))
    assert Trainer(tiny_train_config(tmp_path / "runs" / "a", max_steps=3)).state.step == 3
    (tmp_path / "runs" / "a").rename(tmp_path / "moved")
    assert Trainer(tiny_train_config("moved", max_steps=3)).state.step == 3


def test_a_corrupt_newest_checkpoint_resumes_from_the_one_before_saying_so(tmp_path):
    train(tiny_train_config(tmp_path))  # checkpoints at 3 and 6
    (tmp_path / "ckpt-0000006" / "optimizer.pt").write_bytes(b"not a checkpoint")
    with pytest.warns(CheckpointWarning, match=r"from the checkpoint ckpt-0000003, .*ckpt-0000006"):
        resumed = Trainer(tiny_train_config(tmp_path))
    assert resumed.state.step == 3
    assert _metric_steps(tmp_path) == [3]  # step 6 is trained and logged again
    resumed.run()
    assert _metric_steps(tmp_path) == [3, 6]


def test_a_second_trainer_on_a_running_folder_is_refused_naming_the_pid(tmp_path):
    first = Trainer(tiny_train_config(tmp_path))
    with pytest.raises(RunLockedError, match=rf"PID {os.getpid()}\b"):
        Trainer(tiny_train_config(tmp_path))
    first.run()
    assert Trainer(tiny_train_config(tmp_path)).state.step == 6  # free once it ended


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_workbench_train_stopped_by_a_signal_exits_130_and_resumes(
    tmp_path, monkeypatch, capsys, signum
):
    from workbench.cli import main

    plain = Trainer.train_step

    def signalled_at_step_two(self, batch):
        loss = plain(self, batch)
        if self.state.step == 1:
            signal.raise_signal(signum)
        return loss

    argv = ["train", "--preset", "tiny", "--out", str(tmp_path), "--batch-games", "8",
            "--max-steps", "4", "--eval-games", "20", "--eval-every", "2"]  # fmt: skip
    monkeypatch.setattr(Trainer, "train_step", signalled_at_step_two)
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 130
    assert "Stopped by a signal at step 2" in capsys.readouterr().err
    monkeypatch.setattr(Trainer, "train_step", plain)
    main(argv)  # resumes and finishes: exit status 0
    assert json.loads(capsys.readouterr().out)["step"] == 4
    assert _metric_steps(tmp_path) == [2, 4]
