import pytest
import torch
from sae_lens import SAE

from workbench.outputs import OutputFolderError, read_marker
from workbench.saes import loading
from workbench.saes.loading import (
    SAEMismatchError,
    SAENotFoundError,
    SAEUnavailableError,
    check_compatible,
    load_sae,
    save_sae,
)

from helpers import identity_sae, network_blocked, tiny_model

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))  # SAEs in tmp_path/saes
    sae = identity_sae(32, HOOK)
    save_sae(sae, loading.sae_dir("tiny", HOOK, "standard"), {"note": "test"})
    return sae


def test_round_trip_through_sae_lens_load_from_disk(shipped):
    folder = loading.sae_dir("tiny", HOOK, "standard")
    again = SAE.load_from_disk(folder)  # sae-lens's own loader reads the shipped format
    x = torch.randn(10, 32)
    assert torch.allclose(again.decode(again.encode(x)), x, atol=1e-5)
    assert torch.equal(again.W_enc, shipped.W_enc)
    assert (folder / "training.json").exists()


def test_load_sae_finds_by_model_hook_architecture(shipped):
    sae = load_sae("tiny", HOOK, "standard")
    assert sae.cfg.metadata.hook_name == HOOK
    assert [e.architecture for e in loading.list_saes("tiny")] == ["standard"]
    with pytest.raises(SAENotFoundError, match="Shipped for this model.*standard"):
        load_sae("tiny", HOOK, "topk")
    with pytest.raises(SAENotFoundError, match="neither a model with shipped SAEs"):
        load_sae("no-such-model", HOOK)


def test_published_sae_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with network_blocked() as refused:
        with pytest.raises(SAEUnavailableError, match="local Hugging Face cache"):
            load_sae("gpt2-small-res-jb", "blocks.8.hook_resid_pre")
    # One reachability probe, then the cache only: no download attempts and retries.
    assert len(refused) <= 1
    with pytest.raises(SAENotFoundError, match="has no SAE"):
        load_sae("gpt2-small-res-jb", "blocks.99.hook_resid_pre")


def test_shape_mismatch_is_a_clear_error():
    model = tiny_model()  # d_model 32, d_mlp 64
    assert check_compatible(identity_sae(32, HOOK), model) == HOOK
    with pytest.raises(SAEMismatchError, match="d_in=64 .* width 32"):
        check_compatible(identity_sae(64, HOOK), model)
    with pytest.raises(SAEMismatchError, match="does not exist"):
        check_compatible(identity_sae(32, "blocks.9.hook_resid_post"), model)


def test_load_saes_by_layer_picks_one_site_and_architecture_in_layer_order(shipped):
    for hook in ("blocks.10.hook_resid_post", "blocks.2.hook_resid_post", "blocks.2.hook_mlp_out"):
        save_sae(identity_sae(32, hook), loading.sae_dir("tiny", hook, "standard"))
    save_sae(identity_sae(32, HOOK), loading.sae_dir("tiny", HOOK, "standard", random_init=True))
    by_layer = loading.load_saes_by_layer("tiny", "standard")
    assert list(by_layer) == [HOOK, "blocks.2.hook_resid_post", "blocks.10.hook_resid_post"]
    assert all(sae.cfg.metadata.hook_name == hook for hook, sae in by_layer.items())
    assert list(loading.load_saes_by_layer("tiny", "standard", random_init=True)) == [HOOK]
    assert list(loading.load_saes_by_layer("tiny", "standard", site="hook_mlp_out")) == [
        "blocks.2.hook_mlp_out"
    ]
    assert loading.load_saes_by_layer("tiny", "topk") == {}


def test_comparison_site_is_where_most_architectures_sit(shipped):
    other = "blocks.2.hook_resid_post"
    save_sae(identity_sae(32, other), loading.sae_dir("tiny", other, "topk"))
    for architecture in ("topk", "batchtopk"):  # random-init twins and MLP sites do not count
        save_sae(identity_sae(32, other), loading.sae_dir("tiny", other, architecture,
                                                          random_init=True))  # fmt: skip
        save_sae(identity_sae(32, "blocks.2.hook_mlp_out"),
                 loading.sae_dir("tiny", "blocks.2.hook_mlp_out", architecture))  # fmt: skip
    assert loading.comparison_site("tiny") == HOOK  # a tie goes to the earlier layer
    save_sae(identity_sae(32, other), loading.sae_dir("tiny", other, "batchtopk"))
    assert loading.comparison_site("tiny") == other
    with pytest.raises(SAENotFoundError, match="models with SAEs: \\['tiny'\\]"):
        loading.comparison_site("othello-gpt")


def test_a_batchtopk_sae_saved_for_inference_as_jumprelu_keeps_its_training_name():
    sae = load_sae("othello-gpt-cpu-6l", HOOK, "batchtopk")  # a shipped one
    assert sae.cfg.architecture() == "jumprelu"  # how sae-lens saves it for inference
    assert loading.trained_architecture(sae) == "batchtopk"
    assert loading.trained_architecture(load_sae("othello-gpt-cpu-6l", HOOK, "topk")) == "topk"
    assert loading.trained_architecture(identity_sae(32, HOOK)) == "standard"  # no metadata


def test_weights_stored_as_float16_load_back_as_the_rounded_float32_sae(tmp_path):
    sae = identity_sae(32, HOOK)
    with torch.no_grad():
        sae.W_enc.add_(torch.randn_like(sae.W_enc) * 1e-3)  # values float16 cannot hold
    full = save_sae(sae, tmp_path / "full")
    half = save_sae(sae, tmp_path / "half", {"note": "test"}, dtype=torch.float16)
    size = (half / "sae_weights.safetensors").stat().st_size
    assert size < 0.6 * (full / "sae_weights.safetensors").stat().st_size
    again = SAE.load_from_disk(half)
    assert again.W_enc.dtype == torch.float32  # the config's dtype, not the file's
    assert not torch.equal(again.W_enc, sae.W_enc)
    loading.round_weights(sae, torch.float16)  # the SAE in memory becomes the stored one
    assert all(torch.equal(again.state_dict()[k], v) for k, v in sae.state_dict().items())
    for path in (half, *half.iterdir()):  # readable by others, like any other file
        assert path.stat().st_mode & 0o044 == 0o044, path


def test_save_sae_never_deletes_a_users_file_and_replaces_an_sae_folder(tmp_path):
    sae = identity_sae(32, HOOK)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match=rf"'{mine}' .*notes.txt.*--overwrite"):
        save_sae(sae, mine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    older = save_sae(sae, tmp_path / "older", {"note": "test"})
    (older / ".workbench-output").unlink()  # as the shipped ones, saved before the marker
    save_sae(sae, older, {"note": "again"})  # an SAE's files only: the workbench's
    assert (older / "training.json").read_text().count("again") == 1


def test_every_shipped_sae_and_transcoder_folder_counts_as_the_workbenchs():
    folders = [e.path for e in loading.list_saes()]
    folders += [p.parent for p in (loading.DATA_DIR / "transcoders").glob("*/*/cfg.json")]
    # (a folder saved since then also carries the marker, which git does not keep)
    assert folders and all(loading.older_sae_folder(f) or read_marker(f) for f in folders)


def test_workbench_sae_refuses_a_users_folder_before_training(tmp_path, capsys):
    from workbench.cli import main

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as stop:
        main(["sae", "othello", "--hook", "blocks.0.hook_resid_post", "--out", str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("workbench sae: error: ") and str(tmp_path) in err and "--overwrite" in err
    )
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_an_alias_and_the_model_it_names_are_the_same_model_for_an_sae():
    sae = identity_sae(32, hook=HOOK)
    sae.cfg.metadata.model_name = "othello"  # what a live training of "othello" records
    model = tiny_model()
    model.cfg.model_name = "othello-gpt-cpu-6l"
    check_compatible(sae, model, HOOK)  # no error: "othello" names that model now
    model.cfg.model_name = "othello-gpt-8l"
    with pytest.raises(SAEMismatchError, match="othello-gpt-8l"):
        check_compatible(sae, model, HOOK)


def test_hook_width_runs_the_model_once_per_hook_and_model(monkeypatch):
    from workbench.activations import HookNameError
    from workbench.saes.loading import hook_width

    model, other = tiny_model(), tiny_model(seed=1)
    calls = []
    run = type(model).run_with_cache
    monkeypatch.setattr(
        type(model), "run_with_cache", lambda m, *a, **k: calls.append(m) or run(m, *a, **k)
    )
    widths = [
        hook_width(m, h) for m in (model, other, model) for h in (HOOK, "blocks.0.mlp.hook_post")
    ]
    assert widths == [32, 64] * 3  # d_model, d_mlp of the tiny model
    assert len(calls) == 4  # the third asks no forward pass: the first's are kept
    with pytest.raises(HookNameError):
        hook_width(model, "blocks.0.hook_nothing")  # still checked every time
