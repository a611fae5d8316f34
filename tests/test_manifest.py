"""The manifest of shipped artefacts matches the files, and a corrupted artefact names
itself when loaded (``workbench.manifest``)."""

import shutil

import pytest

from workbench import manifest, paths
from workbench.models.registry import load_model
from workbench.probe_suite import load_probes


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
