import json

import pytest
import torch

from workbench.outputs import OutputFolderError
from workbench.provenance import RunRecord, fingerprint
from workbench.saes.loading import load_sae_folder
from workbench.saes.pipeline import SAEInputs, saes_at_site, train_and_ship
from workbench.saes.train import SAETrainConfig

from helpers import tiny_model

HOOK = "blocks.1.hook_resid_post"


def _cfg() -> SAETrainConfig:
    return SAETrainConfig(hook=HOOK, k=8, n_tokens=20_000, batch_size=1024, buffer_games=64)


def test_train_and_ship_evaluates_and_saves_the_stored_weights(tmp_path):
    model, seen = tiny_model(), {}

    def evaluate(model, sae):  # what the pipeline scores: the rounded weights, on the CPU
        seen["weights"] = {k: v.clone() for k, v in sae.state_dict().items()}
        seen["device"] = str(sae.W_enc.device)
        return {"l0": 1.0}

    folder = tmp_path / "sae"
    info = train_and_ship(
        model, _cfg(), folder, SAEInputs(stream=None, evaluate=evaluate),
        command="workbench sae tiny", save_dtype="float16",
    )  # fmt: skip
    assert info["command"] == "workbench sae tiny" and info["evaluation"] == {"l0": 1.0}
    assert info["stored_dtype"] == "float16" and seen["device"] == "cpu"
    record = json.loads((folder / "training.json").read_text())
    assert record["evaluation"] == {"l0": 1.0}
    stored = load_sae_folder(folder).state_dict()
    for name, value in seen["weights"].items():  # float16 on disk: what was evaluated
        assert torch.equal(stored[name].float(), value.float()), name
        assert torch.equal(value, value.half().to(value.dtype)), name
    assert not (tmp_path / "sae.checkpoints").exists()  # the SAE is stored: none to resume


def test_train_and_ship_refuses_a_users_folder_before_training(tmp_path, monkeypatch):
    import workbench.saes.pipeline as pipeline

    monkeypatch.setattr(pipeline, "train_sae", lambda *a, **k: pytest.fail("trained"))
    (tmp_path / "notes.txt").write_text("mine")
    inputs = SAEInputs(stream=None, evaluate=lambda model, sae: {})
    with pytest.raises(OutputFolderError, match="--overwrite|overwrite"):
        train_and_ship(tiny_model(), _cfg(), tmp_path, inputs, command="c")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_saes_at_site_fingerprints_what_it_loads():
    record = RunRecord()
    hook = "blocks.0.hook_resid_post"
    model, saes, random_init = saes_at_site("othello-small", hook, record)
    assert saes and all(name.startswith("SAE ") for name in saes)
    twin, randoms = random_init
    assert "" in randoms  # the first SAE on the twin is the unnamed baseline row
    weights = record.fields()["weights"]
    assert weights["random-init twin"] == fingerprint(twin)
    assert all(weights[name] == fingerprint(sae) for name, sae in saes.items())
