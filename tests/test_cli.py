"""The command line: every subcommand is registered, and training flags follow the config."""

from dataclasses import fields

import pytest

from workbench.cli import main
from workbench.training.lm import LMTrainConfig
from workbench.training.train import TrainConfig

COMMANDS = [
    "train", "eval", "ship", "models", "train-lm", "ship-lm", "lm-eval", "probes",
    "interventions", "artefacts", "sae", "sae-table", "transcoders", "render",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_its_help(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: workbench {command}")


@pytest.mark.parametrize(
    ("command", "config"), [("train", TrainConfig), ("train-lm", LMTrainConfig)]
)
def test_training_flags_cover_every_config_field(command, config, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    usage = capsys.readouterr().out
    for f in fields(config):
        if f.name not in ("model", "out_dir"):
            assert f"--{f.name.replace('_', '-')}" in usage, f.name


@pytest.mark.parametrize(("command", "valid"), [("train", "'default'"), ("train-lm", "'2l'")])
def test_an_unknown_preset_is_a_clear_error(command, valid, tmp_path):
    with pytest.raises(SystemExit, match=f"Unknown preset 'huge'; choose from .*{valid}"):
        main([command, "--preset", "huge", "--out", str(tmp_path)])


def test_the_recorded_command_names_workbench_and_drops_what_does_not_change_the_result(
    monkeypatch,
):
    from workbench.cli.flags import recorded_command

    argv = ["/somewhere/workbench/__main__.py", "sae", "othello", "--activation-cache", "c",
            "--extra", "a b=c", "--activation-cache=d", "--k", "32"]  # fmt: skip
    monkeypatch.setattr("sys.argv", argv)
    assert recorded_command() == "workbench sae othello --activation-cache c --extra 'a b=c' " + (
        "--activation-cache=d --k 32"
    )
    assert recorded_command(drop=("--activation-cache",)) == (
        "workbench sae othello --extra 'a b=c' --k 32"
    )
