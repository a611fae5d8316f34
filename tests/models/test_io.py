import json

import pytest
import torch

from workbench.models.config import OthelloGPTConfig
from workbench.models.io import (
    ModelFileError,
    load_model_folder,
    load_state_dict,
    round_through,
    save_model,
)

from helpers import TINY, tiny_model


def test_save_load_round_trip_gives_identical_logits(tmp_path):
    model = tiny_model()
    save_model(model, TINY, tmp_path / "m", card={"note": "test"})
    loaded = load_model_folder(tmp_path / "m")
    tokens = torch.randint(1, 61, (3, 59))
    assert torch.equal(model(tokens), loaded(tokens))
    assert not loaded.training


def test_sharded_round_trip(tmp_path):
    model = tiny_model()
    save_model(model, TINY, tmp_path / "m", max_shard_bytes=20_000)
    assert len(list((tmp_path / "m").glob("model-*-of-*.safetensors"))) > 1
    loaded = load_model_folder(tmp_path / "m")
    tokens = torch.randint(1, 61, (2, 59))
    assert torch.equal(model(tokens), loaded(tokens))


def test_round_through_gives_the_model_an_fp16_copy_loads_as(tmp_path):
    model = tiny_model()
    save_model(model, TINY, tmp_path / "m", dtype=torch.float16)
    loaded = load_model_folder(tmp_path / "m")
    tokens = torch.randint(1, 61, (3, 59))
    assert not torch.equal(model(tokens), loaded(tokens))  # fp16 storage changes the output
    assert torch.equal(round_through(model, torch.float16)(tokens), loaded(tokens))


def test_corrupted_file_gives_clear_error(tmp_path):
    save_model(tiny_model(), TINY, tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="corrupted"):
        load_model_folder(tmp_path / "m")


def test_mismatched_architecture_gives_clear_error(tmp_path):
    save_model(tiny_model(), TINY, tmp_path / "m")
    bigger = OthelloGPTConfig(n_layers=2, d_model=64, n_heads=2, d_mlp=64)
    (tmp_path / "m" / "config.json").write_text(json.dumps(bigger.to_dict()))
    with pytest.raises(ModelFileError, match="wrong shapes"):
        load_model_folder(tmp_path / "m")


class Payload:
    """Any object that is not a tensor: loading it would run arbitrary unpickling."""


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"weights": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(ModelFileError, match="corrupted|flat state dict"):
        load_state_dict(tmp_path / "evil.pth")


def test_unknown_config_keys_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"OthelloGPT config: .*unknown keys \['d_modle'\]"):
        OthelloGPTConfig.from_dict({"n_layers": 2, "d_modle": 3})
    with pytest.raises(ValueError, match="divisible"):
        OthelloGPTConfig(d_model=30, n_heads=4)
