import json

import pytest
import torch

from workbench.monitors import (
    MONITOR_KINDS,
    MonitorFileError,
    MonitorInputError,
    SAESparseConfig,
    fit_monitor,
    load_monitor,
)

from helpers import identity_sae

D = 6
HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def sae():
    return identity_sae(D, HOOK)


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, D, generator=gen)
    y = torch.arange(200) < 80
    x[y, 2] += 1.5
    return x, y


@pytest.mark.parametrize("kind", MONITOR_KINDS)
def test_every_kind_round_trips(kind, data, sae, tmp_path):
    x, y = data
    config = SAESparseConfig(n_features=4) if kind == "sae-sparse" else None  # d_sae is 12
    monitor = fit_monitor(
        kind, x, y, hook=HOOK, config=config, sae=sae, sae_source="tiny", notes=f"a {kind}"
    )
    monitor.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monitor.json", "monitor.safetensors"]
    meta = json.loads((tmp_path / "monitor.json").read_text())
    assert (meta["kind"], meta["hook"], meta["d_model"], meta["notes"]) == (
        kind,
        HOOK,
        D,
        f"a {kind}",
    )
    assert meta["n_fit"] == monitor.n_fit
    again = load_monitor(tmp_path, sae=sae)
    assert type(again) is type(monitor) and again.n_fit == monitor.n_fit
    assert getattr(again, "config", None) == getattr(monitor, "config", None)
    test = torch.randn(3, 7, D)
    assert torch.equal(again.score(test), monitor.score(test))
    assert monitor.score(test).dtype == torch.float32 and monitor.score(test).shape == (3, 7)
    assert monitor.score(torch.zeros(0, D)).shape == (0,)


def test_wrong_width_and_hook_are_named(data):
    x, y = data
    monitor = fit_monitor("probe", x, y, hook=HOOK)
    with pytest.raises(
        MonitorInputError, match=f"probe monitor reads {HOOK} with d_model=6.*width 5"
    ):
        monitor.score(torch.randn(2, 5))
    with pytest.raises(MonitorInputError, match=f"reads {HOOK}, but was given .*blocks.0"):
        monitor.score(x, hook="blocks.0.hook_resid_post")
    assert monitor.score(x, hook=HOOK).shape == (200,)


def test_unknown_kind_names_the_valid_ones(data):
    x, y = data
    with pytest.raises(ValueError, match="Unknown monitor kind 'svm'; valid kinds:.*'sae-sparse'"):
        fit_monitor("svm", x, y, hook=HOOK)


def test_corrupt_or_missing_files_name_the_file(data, tmp_path):
    x, y = data
    fit_monitor("mean-diff", x, y, hook=HOOK).save(tmp_path)
    meta = tmp_path / "monitor.json"
    good = meta.read_text()
    meta.write_text(good[:40])
    with pytest.raises(MonitorFileError, match=r"monitor.json is not valid JSON"):
        load_monitor(tmp_path)
    meta.write_text(good.replace('"mean-diff"', '"svm"'))
    with pytest.raises(MonitorFileError, match=r"monitor.json names monitor kind 'svm'"):
        load_monitor(tmp_path)
    meta.write_text(good.replace('"separation"', '"spread"'))
    with pytest.raises(MonitorFileError, match=r"monitor.json does not describe a mean-diff"):
        load_monitor(tmp_path)
    meta.write_text(good.replace('"d_model": 6', '"d_model": 5'))
    with pytest.raises(MonitorFileError, match=r"tensors in .*monitor.safetensors do not fit"):
        load_monitor(tmp_path)
    meta.write_text(good)
    (tmp_path / "monitor.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(MonitorFileError, match=r"monitor.safetensors \(corrupted\?\)"):
        load_monitor(tmp_path)
    (tmp_path / "monitor.safetensors").unlink()
    with pytest.raises(MonitorFileError, match=r"monitor.safetensors does not exist"):
        load_monitor(tmp_path)
    with pytest.raises(MonitorFileError, match=r"No monitor.json in .*elsewhere"):
        load_monitor(tmp_path / "elsewhere")
