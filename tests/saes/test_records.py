import json

import pytest

from workbench.provenance import fingerprint
from workbench.saes.loading import load_saes_by_layer
from workbench.saes.records import (
    SUPERPOSITION_RECORD,
    SweepRecordError,
    split_record,
    split_record_path,
    superposition_record,
)


def _write(path, rows, command="workbench superposition", games=200):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"command": command, "date": "d", "games": games, "rows": rows}))


def test_superposition_rows_come_in_the_order_asked_and_aliases_are_resolved(tmp_path):
    rows = [
        {"model": m, "layer": i} for m in ("othello-gpt-cpu", "othello-gpt-cpu-6l") for i in (0, 1)
    ]
    _write(tmp_path / SUPERPOSITION_RECORD, rows)
    record = superposition_record(["othello", "othello-small"], data_dir=tmp_path)
    assert [r["model"] for r in record.rows] == ["othello-gpt-cpu-6l"] * 2 + ["othello-gpt-cpu"] * 2
    assert record.games == 200 and "workbench superposition" in record.describe()


def test_a_model_the_record_lacks_and_a_missing_record_are_refused_with_the_command(tmp_path):
    with pytest.raises(SweepRecordError, match="workbench superposition othello-gpt-cpu-6l"):
        superposition_record(["othello"], data_dir=tmp_path)
    _write(tmp_path / SUPERPOSITION_RECORD, [{"model": "othello-gpt-cpu", "layer": 0}])
    with pytest.raises(SweepRecordError, match=r"holds no rows for \['othello-gpt-8l'\]"):
        superposition_record(["othello-gpt-8l"], data_dir=tmp_path)
    with pytest.raises(SweepRecordError, match="workbench sae-split othello-gpt-cpu-6l --hook"):
        split_record("othello", "blocks.2.hook_resid_post", data_dir=tmp_path)


def test_a_split_record_made_at_another_site_of_the_layer_is_refused(tmp_path):
    path = split_record_path("othello", "blocks.4.hook_resid_post", data_dir=tmp_path)
    _write(path, [], command="workbench sae-split othello --hook blocks.4.hook_mlp_out")
    with pytest.raises(SweepRecordError, match="another site"):
        split_record("othello", "blocks.4.hook_resid_post", data_dir=tmp_path)


def test_the_shipped_records_describe_the_shipped_saes():
    """Notebook 03 reads these records in place of minutes of scoring: they must be of the
    SAEs shipped now (the superposition record holds each one's weight fingerprint)."""
    record = superposition_record(["othello"])
    weights = json.loads(record.path.read_text())["weights"]
    for arch in ("topk", "batchtopk"):
        for hook, sae in load_saes_by_layer("othello", arch).items():
            assert weights[f"othello-gpt-cpu-6l {hook} SAE {arch}"] == fingerprint(sae), hook
    layers = {r["layer"] for r in record.rows}
    assert layers == set(range(6))
    split = split_record("othello", "blocks.4.hook_resid_post")
    assert {r["features per property"] for r in split.rows} == {1, 2, 4, 8}
