import json
import shlex
from dataclasses import replace

import torch

from workbench.cli import main
from workbench.models.io import load_folder_weights, load_model_folder
from workbench.training.lm import LMTrainConfig, make_lm_batch, ship_lm, split_stream, train_lm
from workbench.training.presets import LM_PRESETS

from helpers import calls_of_recorded_command


def _cfg(out, **kw):
    settings = dict(batch_size=4, eval_sequences=8, max_steps=4, eval_every=2, checkpoint_every=2)
    return LMTrainConfig(**({"model": LM_PRESETS["tiny"], "out_dir": str(out)} | settings | kw))


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    train_lm(_cfg(tmp_path / "a"))
    train_lm(_cfg(tmp_path / "b", max_steps=4, max_minutes=0.0))  # stops after one step
    train_lm(_cfg(tmp_path / "b"))
    a = load_folder_weights(tmp_path / "a" / "ckpt-0000004")
    b = load_folder_weights(tmp_path / "b" / "ckpt-0000004")
    assert all(torch.equal(a[k], b[k]) for k in a)
    model = load_model_folder(tmp_path / "a" / "best")  # weights, config and tokenizer
    assert model.to_tokens("To be")[0, 0] == 0
    records = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert {"eval_val_loss", "eval_loss_drop"} <= set(records[0])


def test_batches_are_deterministic_and_mix_in_repeats():
    stream = torch.arange(1, 50_000)
    cfg = LMTrainConfig(model=LM_PRESETS["tiny"], batch_size=64, repeat_fraction=0.5)
    a, b = make_lm_batch(stream, cfg, 7), make_lm_batch(stream, cfg, 7)
    assert torch.equal(a.tokens, b.tokens)
    assert (a.tokens[:, 0] == 0).all()
    running = (a.tokens[:, 2:] - a.tokens[:, 1:-1] == 1).all(-1)  # untouched windows
    assert 10 < (~running).sum() < 54


def test_held_out_blocks_never_overlap_training():
    stream = torch.arange(200_000)
    train, val = split_stream(stream)
    assert len(train) + len(val) == len(stream)
    assert not set(train.tolist()) & set(val.tolist())


def test_shipped_card_holds_the_shipped_weights_figures_and_a_runnable_command(
    tmp_path, capsys, monkeypatch
):
    wide = replace(LM_PRESETS["tiny"], n_ctx=128)  # room for the induction test's 101 tokens
    train_lm(_cfg(tmp_path / "run", model=wide))
    card = ship_lm(tmp_path / "run", "tiny", train_command="workbench train-lm ...",
                   models_dir=tmp_path / "models")  # fmt: skip
    main(shlex.split(card["evaluation_command"])[1:])  # as recorded
    printed = json.loads(capsys.readouterr().out)
    # Evaluated on the fp16 weights it ships: the recorded command gives the same figures.
    assert abs(printed["held_out_loss"] - card["evaluation"]["held_out_loss"]) <= 5e-5
    assert printed["loss_drop"] == card["evaluation"]["induction"]["loss_drop"]
    # The recorded ship command names the same run, name and train command.
    calls = calls_of_recorded_command(
        monkeypatch, "workbench.training.lm.ship_lm", card["ship_command"], card
    )
    assert calls == [((str(tmp_path / "run"), "tiny"), {"train_command": card["train_command"]})]
