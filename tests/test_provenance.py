"""Provenance: fingerprints name exact weights; a run record says when, where and why."""

import re

import torch

from workbench.provenance import RunRecord, fingerprint, hardware

from helpers import tiny_model


def test_a_fingerprint_names_the_weights_not_the_object():
    a = tiny_model(seed=0)
    assert fingerprint(a) == fingerprint(tiny_model(seed=0))  # another object, same weights
    assert fingerprint(a) != fingerprint(tiny_model(seed=1))
    with torch.no_grad():
        a.blocks[0].mlp.W_in[0, 0] += 1e-6  # one value, barely changed
    assert fingerprint(a) != fingerprint(tiny_model(seed=0))
    assert re.fullmatch("[0-9a-f]{16}", fingerprint(a))


def test_a_record_has_its_date_hardware_weights_and_note():
    record = RunRecord(note="why")
    record.add_weights("model tiny", tiny_model(seed=0))
    fields = record.fields()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d-\d\d:\d\d UTC", fields["date"])
    assert fields["seconds"] >= 0
    assert fields["hardware"] == hardware("cpu") and "threads" in fields["hardware"]
    assert fields["weights"] == {"model tiny": fingerprint(tiny_model(seed=0))}
    assert fields["note"] == "why"
    assert "note" not in RunRecord().fields()  # no note given: none written
