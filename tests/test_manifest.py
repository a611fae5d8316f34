"""The manifest of shipped artefacts matches the files, and a corrupted artefact names
itself when loaded (``workbench.manifest``)."""

import shutil
import subprocess

import pytest

from workbench import manifest, paths
from workbench.models.registry import load_model
from workbench.probes.suite import load_probes


def test_the_manifest_matches_the_shipped_files():
    lines = manifest.check_manifest(paths.CLONE_ROOT / "data")
    assert lines == [], "data/manifest.json is stale: run `workbench manifest`\n" + "\n".join(lines)


@pytest.fixture
def data(tmp_path):
    """A data folder holding the 4-layer model and its probes, with its own manifest."""
    clone = paths.CLONE_ROOT / "data"
    for part in ("models/othello-gpt-cpu", "probes/othello-gpt-cpu"):
        shutil.copytree(clone / part, tmp_path / part)
    manifest.write_manifest(tmp_path)
    return tmp_path


def test_a_corrupted_weights_file_names_itself(data):
    weights = data / "models/othello-gpt-cpu/model.safetensors"
    load_model("othello-small", data_dir=data)  # intact: loads
    raw = bytearray(weights.read_bytes())
    raw[-100] ^= 0xFF  # same size, one byte changed
    weights.write_bytes(raw)
    with pytest.raises(manifest.ArtefactChecksumError, match=f"{weights}.*SHA-256"):
        load_model("othello-small", data_dir=data)


def test_a_truncated_file_names_itself(data):
    weights = data / "probes/othello-gpt-cpu/probes.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(manifest.ArtefactChecksumError, match=f"{weights} is .* bytes"):
        load_probes("othello-small", data_dir=data)
    assert manifest.check_manifest(data) == ["changed: probes/othello-gpt-cpu/probes.safetensors"]


def test_files_the_manifest_does_not_list_are_not_checked(data):
    extra = data / "models/mine"
    shutil.copytree(data / "models/othello-gpt-cpu", extra)
    manifest.verify(extra / "model.safetensors")  # no entry: nothing to check against
    assert "not in the manifest: models/mine/model.safetensors" in manifest.check_manifest(data)


def test_the_shipping_policy_refuses_checkpoints_pickles_and_big_files(tmp_path):
    ok = [("models/m/model.safetensors", 9_000_000), ("saes/m/h/topk/cfg.json", 900)]
    assert manifest.policy_violations(ok) == []
    bad = [
        ("runs/cpu-6l/ckpt-0005067/model.safetensors", 10),
        ("models/m/optimizer.safetensors", 10),
        ("probes/m/probes.pt", 10),
        ("saes/m/state.pkl", 10),
        ("models/big/model.safetensors", manifest.MAX_FILE_BYTES + 1),
    ]
    lines = manifest.policy_violations(bad)
    assert [line.split(":")[0] for line in lines] == [path for path, _ in bad]
    assert "shard it" in lines[-1] and "never shipped" in lines[0]

    (tmp_path / "models/m").mkdir(parents=True)
    (tmp_path / "models/m/config.json").write_text("{}")
    manifest.write_manifest(tmp_path)
    (tmp_path / "models/m/optimizer.pt").write_bytes(b"\x80\x04")
    with pytest.raises(manifest.ShippingPolicyError, match="models/m/optimizer.pt"):
        manifest.write_manifest(tmp_path)
    assert "optimizer" not in (tmp_path / "manifest.json").read_text()  # the old one stays
    assert any("optimizer.pt: a checkpoint" in line for line in manifest.check_manifest(tmp_path))


def test_nothing_tracked_breaks_the_shipping_policy():
    """Every file git tracks, in data/ or not: no checkpoint, pickle or unsharded giant."""
    git = shutil.which("git")
    root = paths.CLONE_ROOT
    if git is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        [git, "-C", str(root), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    tracked = [p for p in out.split("\0") if p and (root / p).is_file()]
    assert len(tracked) > 100
    lines = manifest.policy_violations([(p, (root / p).stat().st_size) for p in tracked])
    assert lines == [], "\n".join(lines)
