"""The command line: every subcommand is registered, and training flags follow the config."""

from argparse import Namespace
from dataclasses import fields

import pytest
import torch

from workbench.cli import main
from workbench.training.lm import LMTrainConfig
from workbench.training.train import TrainConfig

COMMANDS = [
    "train", "eval", "ship", "models", "train-lm", "ship-lm", "lm-eval", "probes",
    "interventions", "artefacts", "sae", "sae-table", "sae-split", "superposition",
    "transcoders", "render",
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


def test_the_recorded_command_names_workbench_and_drops_what_does_not_change_the_result():
    from workbench.cli.flags import recorded_command
    from workbench.models.registry import canonical_name

    argv = ["sae", "othello", "--activation-cache", "c",
            "--extra", "a b=c", "--activation-cache=d", "--k", "32"]  # fmt: skip
    args = Namespace(argv=argv)
    model = canonical_name("othello")  # the alias is recorded as the model it names now
    assert recorded_command(args) == f"workbench sae {model} --activation-cache c " + (
        "--extra 'a b=c' --activation-cache=d --k 32"
    )
    assert recorded_command(args, drop=("--activation-cache",)) == (
        f"workbench sae {model} --extra 'a b=c' --k 32"
    )
    args = Namespace(argv=[*argv[:2], "--restart", "--k", "32"])
    assert recorded_command(args, drop_flags=("--restart",)) == f"workbench sae {model} --k 32"
    args = Namespace(argv=["render", "--out", "othello"])
    assert recorded_command(args) == "workbench render --out othello"  # only the model word


OUT = ("probes", "superposition")  # commands that write by default: written nowhere real


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["probes", "tiny-lm", "--games", "4", "--steps", "1"], "This needs an OthelloGPT"),
        (["eval", "tiny-lm", "--games", "2"], "This needs an OthelloGPT"),
        (["artefacts", "tiny-lm", "--dry-run"], "This needs an OthelloGPT"),
        (["artefacts", "nosuch", "--dry-run"], "Unknown model 'nosuch'. Known models: "),
        (["sae-table", "othello", "--hook", "blocks.9.hook_resid_post"], "blocks.9"),
        (["sae-split", "othello", "--hook", "blocks.9.hook_resid_post"], "blocks.9"),
        (["superposition", "othello", "nosuch"], "Unknown model 'nosuch'. Known models: "),
        (["superposition", "tiny-lm"], "This needs an OthelloGPT"),
    ],
)
def test_bad_input_is_one_line_that_says_what_is_valid(argv, message, capsys, tmp_path):
    """A user's mistake ends the command with its message, not a traceback, and writes nothing."""
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--out", str(tmp_path / "probes")] if argv[0] in OUT else argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    # the last line: a session's first model load draws its bar above it
    last = err.rstrip("\n").split("\n")[-1]
    assert last.startswith(f"workbench {argv[0]}: error: ") and message in last
    assert "Traceback" not in err and not (tmp_path / "probes").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--sizes", "1,0", "expected comma-separated values, each a whole number >= 1"),
        ("--sizes", "two", "expected comma-separated values, each a whole number >= 1"),
        ("--sizes", "", "expected comma-separated values, each a whole number >= 1"),
        ("--candidates", "0", "expected a whole number >= 1, got '0'"),
    ],
)
def test_split_counts_must_be_positive_integers(flag, value, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sae-split", "--hook", "blocks.1.hook_resid_post", flag, value])
    assert stop.value.code == 2
    assert f"argument {flag}: {message}" in capsys.readouterr().err


def test_a_dry_run_before_the_probes_exist_says_what_decides_the_rest(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setattr("workbench.probes.suite.probes_root", lambda data_dir=None: tmp_path)
    main(["artefacts", "othello-gpt-cpu", "--dry-run"])  # 4 layers: 21 steps
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["[1]", "[2]", "[3-21]"]
    assert "--best-layer L lists them" in lines[-1]


def test_models_lists_each_alias_beside_the_model_it_names(capsys):
    from workbench.models.registry import ALIASES

    main(["models"])
    lines = capsys.readouterr().out.splitlines()
    for alias, target in ALIASES.items():
        (line,) = [line for line in lines if f" {target} " in f" {line} "]
        assert line.startswith(f"{alias} = ") or f" {alias} = " in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines with no GPU")
def test_sae_on_a_gpu_that_is_not_there_says_what_is_valid():
    with pytest.raises(SystemExit, match="no CUDA device here; valid here: cpu"):
        main(["sae", "othello", "--hook", "blocks.0.hook_resid_post", "--device", "cuda"])


def test_sweep_commands_record_their_provenance(tmp_path, capsys):
    """sae-split and superposition write the fingerprints of what they scored, the date,
    the hardware and the note, so nobody has to add them by hand."""
    import json

    from workbench.models import load_model
    from workbench.provenance import fingerprint
    from workbench.saes.evaluate import eval_games, shipped_coverage_by_layer
    from workbench.saes.loading import load_sae

    hook = "blocks.0.hook_resid_post"
    split, sup = tmp_path / "split.json", tmp_path / "superposition.json"
    main(["sae-split", "othello-small", "--hook", hook, "--games", "4", "--sizes", "1",
          "--candidates", "2", "--note", "a test", "--out", str(split)])  # fmt: skip
    main(["superposition", "othello-small", "--games", "4", "--out", str(sup)])
    capsys.readouterr()
    record = json.loads(split.read_text())
    model = load_model("othello-small")
    assert record["command"].startswith("workbench sae-split othello-gpt-cpu --hook")
    assert "--note" not in record["command"]  # it has a field of its own
    assert record["note"] == "a test" and record["games"] == 4 and record["rows"]
    assert record["weights"]["model othello-gpt-cpu"] == fingerprint(model)
    assert record["weights"]["SAE topk"] == fingerprint(load_sae("othello-small", hook, "topk"))
    assert "random-init twin" in record["weights"]
    record = json.loads(sup.read_text())
    assert "note" not in record and {r["model"] for r in record["rows"]} == {"othello-gpt-cpu"}
    sae = load_sae("othello-small", hook, "batchtopk")
    assert record["weights"][f"othello-gpt-cpu {hook} SAE batchtopk"] == fingerprint(sae)
    assert f"othello-gpt-cpu {hook} SAE topk on the random-init twin" in record["weights"]
    assert record["rows"] == shipped_coverage_by_layer("othello-gpt-cpu", eval_games(4))
