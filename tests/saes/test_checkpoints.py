import json
import signal
from functools import partial
from itertools import islice

import pytest
import torch

from workbench.checkpoints import CheckpointFolder
from workbench.saes.train import (
    NORM_BATCHES,
    Progress,
    SAETrainConfig,
    TrainingStopped,
    activation_stream,
    train_sae,
)

from helpers import tiny_model

HOOK = "blocks.1.hook_resid_post"


def test_a_stream_started_late_yields_the_batches_an_early_one_reaches():
    model = tiny_model()
    stream = partial(activation_stream, model, HOOK, batch_size=256, buffer_games=16, seed=4)
    whole = list(islice(stream(), 8))  # 3 batches per chunk of 16 games
    for start in (1, 3, 4):  # inside the first chunk, at a chunk's start, inside the second
        late = list(islice(stream(start=start), 8 - start))
        assert all(torch.equal(a, b) for a, b in zip(whole[start:], late, strict=True)), start


def test_a_stream_whose_chunk_cannot_fill_a_batch_is_refused():
    with pytest.raises(ValueError, match="use buffer_games >= 18"):
        next(activation_stream(tiny_model(), HOOK, batch_size=1024, buffer_games=2))


class Crash(Exception):
    pass


def _stopping_after(n: int, make_stream, *, crash: bool = False):
    """A stream factory whose stream, after ``n`` batches, sends this process SIGINT (as
    ^C or ``kill`` would) or, with ``crash``, fails (as a killed process would, unwarned)."""

    def make(*args, start: int = 0, **kwargs):
        for i, batch in enumerate(make_stream(*args, start=start, **kwargs)):
            if i == n and crash:
                raise Crash
            if i == n:
                signal.raise_signal(signal.SIGINT)
            yield batch

    return make


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "standard"])
def test_a_stopped_or_crashed_run_resumes_to_the_sae_an_uninterrupted_run_makes(
    tmp_path, architecture
):
    model = tiny_model()
    cfg = SAETrainConfig(
        hook=HOOK, architecture=architecture, k=8, n_tokens=120_000, batch_size=1024,
        buffer_games=64, seed=2,
    )  # fmt: skip
    stream = partial(
        activation_stream, model, HOOK, batch_size=1024, buffer_games=64, seed=2
    )  # train_sae's own default stream, made explicit to interrupt it
    whole = train_sae(model, cfg, checkpoints=tmp_path / "whole", n_checkpoints=3)

    folder = tmp_path / "stopped"
    with pytest.raises(TrainingStopped, match="run the same command again"):
        train_sae(
            model, cfg, activations=_stopping_after(NORM_BATCHES + 30, stream),
            checkpoints=folder, n_checkpoints=3,
        )  # fmt: skip
    progress = _saved_progress(folder)
    assert progress.steps == 30 and progress.samples == 30 * 1024  # stopped between steps
    assert len([p for p in folder.iterdir() if p.is_dir()]) == 1  # older checkpoints dropped
    resumed = train_sae(model, cfg, activations=stream, checkpoints=folder, n_checkpoints=3)

    assert resumed.resumed_at == (30 * 1024,) and resumed.summary()["resumed_at"] == [30 * 1024]
    assert whole.resumed_at == () and "resumed_at" not in whole.summary()
    for name, value in whole.sae.state_dict().items():
        assert torch.equal(value, resumed.sae.state_dict()[name]), name
    assert resumed.final_l0 == whole.final_l0
    assert resumed.dead_features == whole.dead_features

    # Unwarned, it resumes from the last of the evenly spaced checkpoints (at step 30 of 117).
    folder = tmp_path / "crashed"
    with pytest.raises(Crash):
        train_sae(
            model, cfg, activations=_stopping_after(NORM_BATCHES + 45, stream, crash=True),
            checkpoints=folder, n_checkpoints=3,
        )  # fmt: skip
    assert _saved_progress(folder).steps == 30
    resumed = train_sae(model, cfg, activations=stream, checkpoints=folder, n_checkpoints=3)
    assert resumed.resumed_at == (30 * 1024,)
    for name, value in whole.sae.state_dict().items():
        assert torch.equal(value, resumed.sae.state_dict()[name]), name
    assert resumed.final_l0 == whole.final_l0  # the sparsity windows fell on the same steps


def test_a_finished_run_resumes_from_its_final_checkpoint_without_training(tmp_path):
    model = tiny_model()
    cfg = SAETrainConfig(hook=HOOK, k=8, n_tokens=40_000, batch_size=1024, buffer_games=64)
    first = train_sae(model, cfg, checkpoints=tmp_path / "c")  # e.g. evaluation then failed

    def no_batches(start: int = 0, end: int | None = None):
        raise AssertionError(f"a finished run drew batches from {start}")
        yield

    again = train_sae(model, cfg, activations=no_batches, checkpoints=tmp_path / "c")
    assert again.resumed_at == (39 * 1024,)
    for name, value in first.sae.state_dict().items():
        assert torch.equal(value, again.sae.state_dict()[name]), name


def test_resuming_under_other_settings_is_refused_and_says_what_differs(tmp_path):
    model = tiny_model()
    cfg = SAETrainConfig(hook=HOOK, k=8, n_tokens=20_000, batch_size=1024, buffer_games=64)
    train_sae(model, cfg, checkpoints=tmp_path)
    other = SAETrainConfig(hook=HOOK, k=4, n_tokens=20_000, batch_size=1024, buffer_games=64)
    with pytest.raises(ValueError, match=r"other settings .*'k': \(8, 4\).*delete that folder"):
        train_sae(model, other, checkpoints=tmp_path)


def test_workbench_sae_stopped_by_a_signal_exits_130_and_the_same_command_resumes(
    tmp_path, monkeypatch, capsys
):
    import workbench.saes.train as train
    from workbench.cli import main

    out = tmp_path / "sae"
    argv = ["sae", "othello", "--hook", "blocks.0.hook_resid_post", "--threads", "1",
            "--tokens", str(4 * 4096), "--eval-games", "5", "--out", str(out)]  # fmt: skip
    plain = train.activation_stream
    monkeypatch.setattr(
        train, "activation_stream", _stopping_after(NORM_BATCHES + 2, plain)
    )  # the default stream, as the CLI builds it, with a ^C after two steps
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 130
    assert "Stopped at 8,192 of 16,384 activations" in capsys.readouterr().err
    assert not out.exists() and (tmp_path / "sae.checkpoints" / "latest.json").exists()

    monkeypatch.setattr(train, "activation_stream", plain)
    main(argv)
    record = json.loads((out / "training.json").read_text())
    assert record["resumed_at"] == [8192]
    assert not (tmp_path / "sae.checkpoints").exists()


def _saved_progress(folder) -> Progress:
    return Progress.from_dict(CheckpointFolder(folder, {}).latest()[1])


def test_the_prefetched_stream_gives_the_serial_batches_and_its_errors_in_place():
    from workbench.saes.train import Prefetched

    model = tiny_model()
    stream = partial(activation_stream, model, HOOK, batch_size=256, buffer_games=16, seed=4)
    serial = list(islice(stream(), 9))
    with Prefetched(islice(stream(), 9), depth=2) as ahead:
        assert all(torch.equal(a, b) for a, b in zip(serial, ahead, strict=True))
    crashing = _stopping_after(4, lambda start=0: iter(serial), crash=True)()
    with Prefetched(crashing, depth=3) as ahead:
        assert [torch.equal(next(ahead), serial[i]) for i in range(4)] == [True] * 4
        with pytest.raises(Crash):
            next(ahead)
    Prefetched(stream(), depth=2).close()  # an endless stream's thread stops when closed


def test_a_prefetched_run_trains_the_sae_a_serial_run_does():
    model = tiny_model()
    cfg = SAETrainConfig(hook=HOOK, k=8, n_tokens=8192, batch_size=1024, buffer_games=32)
    serial = train_sae(model, cfg, prefetch=0).sae.state_dict()
    ahead = train_sae(model, cfg, prefetch=2).sae.state_dict()
    for name, value in serial.items():
        assert torch.equal(value, ahead[name]), name
