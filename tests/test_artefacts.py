"""The rebuild plan against the records of what is shipped: every shipped SAE, table and
transcoder of each model `workbench artefacts` rebuilt was made by a command the plan runs,
and vice versa."""

import io
import json
import shlex

import pytest
from sae_lens import SAE

from workbench import artefacts
from workbench.models import model_card
from workbench.models.registry import DATA_DIR
from workbench.probes.suite import load_probes
from workbench.saes.loading import comparison_site

# The models whose whole set of artefacts the plan made: the default and the one before it.
REBUILT = ["othello-gpt-cpu-6l", "othello-gpt-cpu"]
N_LAYERS = model_card("othello")["architecture"]["n_layers"]


def _n_layers(model: str) -> int:
    return model_card(model)["architecture"]["n_layers"]


def _d_model(model: str) -> int:
    return model_card(model)["architecture"]["d_model"]


def _options(command: str, verb: str) -> dict:
    """``--name value`` pairs (flags map to True) after ``verb`` in a recorded command line."""
    words = shlex.split(command)
    words = words[words.index(verb) + 2 :]  # skip the program, the verb and the model
    options, i = {}, 0
    while i < len(words):
        if i + 1 < len(words) and not words[i + 1].startswith("--"):
            options[words[i]], i = words[i + 1], i + 2
        else:
            options[words[i]], i = True, i + 1
    return options


def _plan(model: str, verb: str) -> list[dict]:
    n_layers = _n_layers(model)
    layer = artefacts.best_layer(load_probes(model), n_layers)
    steps = artefacts.probe_steps(model) + artefacts.sae_steps(
        model, n_layers, layer, _d_model(model)
    )
    return [_options("workbench " + shlex.join(s.argv), verb) for s in steps if s.argv[0] == verb]


def _shipped(pattern: str, verb: str, key: str) -> list[dict]:
    files = sorted(DATA_DIR.glob(pattern))
    assert files, pattern
    return [_options(json.loads(f.read_text())[key], verb) for f in files]


def _same(a: list[dict], b: list[dict]) -> bool:
    key = lambda o: json.dumps(o, sort_keys=True)  # noqa: E731
    return sorted(map(key, a)) == sorted(map(key, b))


@pytest.mark.parametrize("model", REBUILT)
def test_the_comparison_saes_sit_where_the_shipped_probes_read_the_board_best(model):
    layer = artefacts.best_layer(load_probes(model), _n_layers(model))
    assert comparison_site(model) == f"blocks.{layer}.hook_resid_post"


@pytest.mark.parametrize("model", REBUILT)
def test_plan_reproduces_every_shipped_sae(model):
    shipped = _shipped(f"saes/{model}/*/*/training.json", "sae", "command")
    assert _same(_plan(model, "sae"), shipped)


@pytest.mark.parametrize("model", REBUILT)
def test_plan_reproduces_every_shipped_table_and_the_transcoders(model):
    tables = _shipped(f"saes/{model}/*/evaluation.json", "sae-table", "command")
    assert _same(_plan(model, "sae-table"), tables)
    transcoders = _shipped(f"transcoders/{model}/*/training.json", "transcoders", "command")
    assert all(t == transcoders[0] for t in transcoders)  # one command trained every layer
    assert _same(_plan(model, "transcoders"), transcoders[:1])


@pytest.mark.parametrize("model", REBUILT)
def test_plan_reproduces_the_probe_suite_and_interventions(model):
    record = json.loads((DATA_DIR / f"probes/{model}/probes.json").read_text())["config"]
    (probes,) = _plan(model, "probes")
    assert (int(probes["--games"]), int(probes["--steps"])) == (
        record["n_games"],
        record["steps"],
    )
    shipped = _shipped(f"probes/{model}/interventions.json", "interventions", "command")
    assert _same(_plan(model, "interventions"), shipped)


@pytest.mark.parametrize("model", REBUILT)
def test_every_record_names_the_model_that_made_it_never_an_alias(model):
    records = [json.loads(f.read_text()) for f in DATA_DIR.glob(f"*/{model}/**/*.json")]
    commands = [r["command"] for r in records if "command" in r]
    assert commands and all(shlex.split(c)[:3][2] == model for c in commands), commands
    names = [r["metadata"]["model_name"] for r in records if "metadata" in r]  # sae-lens cfg
    assert names and set(names) <= {model, model + "-random-init"}


def test_a_layer_outside_the_model_or_no_jobs_is_refused():
    with pytest.raises(ValueError, match="not a layer"):
        artefacts.sae_steps("othello", N_LAYERS, N_LAYERS, 256)
    with pytest.raises(ValueError, match="at least one"):
        artefacts.run([], first=1, dry_run=True, jobs=0)


def test_dry_run_numbers_the_steps_and_runs_nothing():

    out = io.StringIO()
    steps = artefacts.sae_steps("othello", 2, 1, 256)
    artefacts.run(steps, first=3, dry_run=True, out=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(steps) and lines[0].startswith("[3] workbench sae othello")


def test_steps_run_as_commands_and_a_failure_stops_the_rebuild():
    import subprocess

    out = io.StringIO()
    artefacts.run([artefacts.Step(["models"], "list")], first=1, dry_run=False, out=out)
    bad = [artefacts.Step(["eval", "no-such-model"], "fails"), artefacts.Step(["models"], "")]
    with pytest.raises(subprocess.CalledProcessError):
        artefacts.run(bad, first=1, dry_run=False, out=out)
    assert "[1] workbench models" in out.getvalue()
    assert "[2] workbench models" not in out.getvalue()  # nothing after the failure ran


def test_a_group_runs_side_by_side_and_a_failure_starts_nothing_more():
    import subprocess

    group = [
        artefacts.Step(["eval", "no-such-model"], "fails", group="g"),
        artefacts.Step(["models"], "starts beside it, or never", group="g"),
    ]
    for jobs, second_started in ((2, True), (1, False)):
        out = io.StringIO()
        with pytest.raises(subprocess.CalledProcessError):
            artefacts.run(group, first=1, dry_run=False, out=out, jobs=jobs)
        assert "[1] workbench eval" in out.getvalue()
        assert ("[2] workbench models" in out.getvalue()) == second_started


def test_sae_steps_share_a_cache_that_is_removed_after_them_and_not_recorded(tmp_path):
    sae = ["sae", "othello", "--hook", "blocks.0.hook_resid_post", "--threads", "1",
           "--tokens", "4096", "--eval-games", "5", "--out", str(tmp_path / "sae")]  # fmt: skip
    out = io.StringIO()
    steps = [artefacts.Step(sae, "tiny SAE", group="sae"), artefacts.Step(["models"], "after")]
    artefacts.run(steps, first=1, dry_run=False, out=out, activation_cache=tmp_path / "cache")
    assert f"--activation-cache {tmp_path / 'cache' / 'sae'}" in out.getvalue()
    assert "[2] workbench models    #" in out.getvalue()  # no cache for steps outside a group
    assert (tmp_path / "cache").exists() and not (tmp_path / "cache" / "sae").exists()
    record = json.loads((tmp_path / "sae" / "training.json").read_text())
    assert "--activation-cache" not in record["command"] and "--tokens 4096" in record["command"]
    saved = SAE.load_from_disk(str(tmp_path / "sae"))
    assert saved.cfg.metadata.hook_name == "blocks.0.hook_resid_post"
    assert not (tmp_path / "sae.checkpoints").exists()  # the SAE is stored: nothing to resume


def test_saes_of_a_wide_model_are_stored_as_float16_to_keep_the_files_small():
    from workbench.cli.saes import SAE_EXPANSION
    from workbench.saes.train import SAETrainConfig

    assert SAE_EXPANSION == SAETrainConfig.expansion  # the size save_dtype_flags estimates
    wide = [s.argv for s in artefacts.sae_steps("othello-gpt-8l", 8, 5, 512) if s.argv[0] == "sae"]
    assert wide and all(" --save-dtype float16" in " ".join(argv) for argv in wide)
    narrow = artefacts.sae_steps("othello", 6, 4, 256)
    assert not any("--save-dtype" in s.argv for s in narrow)
    recorded = [
        f.parent
        for f in (DATA_DIR / "saes/othello-gpt-8l").glob("*/*/training.json")
        if "stored_dtype" in json.loads(f.read_text())  # trained since the rule existed
    ]
    assert len(recorded) >= 1
    for folder in recorded:
        assert json.loads((folder / "training.json").read_text())["stored_dtype"] == "float16"
    for weights in (DATA_DIR / "saes").glob("*/*/*/sae_weights.safetensors"):
        assert weights.stat().st_size < artefacts.MAX_FLOAT32_BYTES, weights
