"""Bad input, as a hostile but honest user gives it (issue 34, items 2, 3, 5 and 6).

Each case asserts the workbench's own error (or argparse's exit 2 for a flag), and that
the message names what was wrong and what is valid. The property-based tests at the end
feed random moves and configs and accept only a correct result or the workbench's error.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.activations import HookNameError, harvest
from workbench.cli import main
from workbench.models import ModelFileError, load_model, save_model
from workbench.models.config import ConfigError, OthelloGPTConfig, random_init_twin
from workbench.models.io import load_model_folder, read_card, read_config
from workbench.models.lm import LMConfig
from workbench.models.registry import _published_config
from workbench.othello import decode, encode, parse_moves, play_games, replay
from workbench.othello.squares import MoveTypeError, SquareError
from workbench.probes.interventions import ProbeMismatchError, intervention_sweep
from workbench.probes.probe import LinearProbe, ProbeFileError, ProbeSuite
from workbench.saes.loading import (
    SAEFileError,
    SAEMismatchError,
    SAEUnavailableError,
    check_compatible,
    load_sae,
    load_sae_folder,
    save_sae,
)

from helpers import TINY, identity_sae, random_suite, tiny_model

HOOK = "blocks.0.hook_resid_post"


@pytest.fixture
def saved_tiny(tmp_path):
    folder = tmp_path / "tiny"
    save_model(tiny_model(seed=3), TINY, folder, card={"note": "tiny"})
    return folder


# --- Never silently wrong: path ---------------------------------------------------------


def test_load_model_with_a_folder_path_loads_that_folder_not_the_shipped_model(saved_tiny):
    model = load_model("othello", path=saved_tiny)
    assert model.cfg.d_model == TINY.d_model  # the shipped default is 256 wide
    torch.testing.assert_close(model.W_E, tiny_model(seed=3).W_E)
    assert model.cfg.model_name == "custom"  # not named as the shipped model


@pytest.mark.parametrize("name", ["othello", "othello-gpt-cpu", "tiny-lm"])
def test_load_model_with_a_weights_file_is_refused_naming_the_folder(saved_tiny, name):
    with pytest.raises(ModelFileError, match="is a file") as err:
        load_model(name, path=saved_tiny / "model.safetensors")
    assert f"path={str(saved_tiny)!r}" in str(err.value)  # the folder that would load
    assert "only 'othello-gpt' takes a bare weights file" in str(err.value)


@pytest.mark.parametrize("name", ["othello", "othello-gpt", "gpt2-small", "minilm"])
def test_load_model_with_a_missing_path_is_refused(tmp_path, name):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(name, path=tmp_path / "nothing-here")


def test_eval_with_a_weights_file_is_refused_not_scored_as_the_shipped_model(saved_tiny, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["eval", "othello", "--path", str(saved_tiny / "model.safetensors"), "--games", "1"])
    assert stop.value.code == 2
    assert "is a file" in capsys.readouterr().err


# --- Never silently wrong: configs ------------------------------------------------------


@pytest.mark.parametrize("field", ["act_fn", "normalization_type", "n_heads", "d_mlp"])
def test_a_saved_config_without_a_field_is_refused_naming_it(saved_tiny, field):
    config = json.loads((saved_tiny / "config.json").read_text())
    del config[field]
    (saved_tiny / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=rf"missing keys \['{field}'\]") as err:
        load_model_folder(saved_tiny)
    assert str(saved_tiny / "config.json") in str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_heads": 0}, "n_heads must be a positive whole number, got 0"),
        ({"n_layers": -1}, "n_layers must be a positive whole number"),
        ({"d_model": 2.5}, "d_model must be a positive whole number, got 2.5"),
        ({"d_mlp": None}, "d_mlp must be a positive whole number, got None"),
        ({"act_fn": "tanh"}, "act_fn must be one of ['gelu', 'relu'], got 'tanh'"),
        ({"normalization_type": None}, "normalization_type must be one of ['LN', 'LNPre']"),
        ({"d_model": 30, "n_heads": 4}, "d_model (30) must be divisible by n_heads (4)"),
    ],
)
def test_an_invalid_config_value_is_named(saved_tiny, change, message):
    config = json.loads((saved_tiny / "config.json").read_text()) | change
    (saved_tiny / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError) as err:
        read_config(saved_tiny)
    assert message in str(err.value) and "config.json" in str(err.value)


def test_n_heads_zero_in_code_is_the_workbenchs_error():
    with pytest.raises(ConfigError, match="n_heads must be a positive whole number"):
        OthelloGPTConfig(n_heads=0)
    with pytest.raises(ConfigError, match="n_heads must be a positive whole number"):
        LMConfig(n_heads=0)


def test_every_shipped_model_config_still_loads():
    from workbench.models.registry import MODELS_DIR

    folders = sorted(p.parent for p in MODELS_DIR.glob("*/config.json"))
    assert len(folders) >= 5
    for folder in folders:
        read_config(folder)


def test_the_published_config_falls_back_only_for_activation_and_normalisation(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"n_layers": 8, "d_model": 512, "n_heads": 8, "d_mlp": 2048}))
    config = _published_config(path)
    assert (config.act_fn, config.normalization_type) == ("gelu", "LNPre")
    path.write_text(json.dumps({"n_layers": 8, "d_model": 512, "n_heads": 8, "act_fn": "relu"}))
    with pytest.raises(ModelFileError, match=r"lacks \['d_mlp'\]"):
        _published_config(path)


# --- Never silently wrong: moves --------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: decode([1.7]),
        lambda: decode(np.array([[1.0, 2.0]])),
        lambda: encode([19.5]),
        lambda: play_games(np.array([[19.0, 18.0]])),
        lambda: parse_moves(np.array([19.2])),
        lambda: replay([[19.0]]),
        lambda: decode([True]),
    ],
)
def test_float_or_bool_moves_are_refused_never_truncated(call):
    with pytest.raises(MoveTypeError, match="whole numbers|A square is an int 0..63"):
        call()


def test_decode_of_whole_numbers_still_works():
    assert decode([1, 0]).tolist() == [0, -1] and encode([0, -1]).tolist() == [1, 0]


@pytest.mark.parametrize("n_games", [0, -5, 2.5, True, "3"])
def test_n_games_must_be_a_positive_whole_number(n_games):
    with pytest.raises(ValueError, match=r"n_games must be a positive whole number, got"):
        play_games(n_games=n_games)


def test_no_games_to_replay_is_named():
    with pytest.raises(ValueError, match="at least one game"):
        replay([])


# --- Never silently wrong: hooks, SAEs, probes ------------------------------------------


def test_a_harvest_of_no_hooks_is_refused_naming_valid_sites():
    with pytest.raises(HookNameError, match="No hook names given.*blocks.0.hook_resid_post"):
        harvest(tiny_model(), play_games(n_games=2, rng=0), hooks=[], progress=False)


def test_an_sae_at_another_hook_is_refused_when_strict_and_warned_about_otherwise():
    model = tiny_model()
    sae = identity_sae(TINY.d_model, HOOK)
    with pytest.raises(SAEMismatchError, match="trained at 'blocks.0.hook_resid_post', not"):
        check_compatible(sae, model, "blocks.1.hook_resid_post")
    with pytest.warns(UserWarning, match="trained at 'blocks.0.hook_resid_post'"):
        assert check_compatible(sae, model, "blocks.1.hook_resid_post", strict=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_compatible(sae, model) == HOOK  # its own hook: no word


def test_an_sae_on_another_model_is_refused():
    model = load_model("othello-gpt-cpu")
    sae = load_sae("othello", "blocks.2.hook_resid_post", "topk")  # 6l: 256 wide
    with pytest.raises(SAEMismatchError, match="trained on model 'othello-gpt-cpu-6l', not"):
        check_compatible(sae, model)
    same_width = identity_sae(model.cfg.d_model, HOOK, model_name="othello-gpt-8l")
    with pytest.raises(SAEMismatchError, match="trained on model 'othello-gpt-8l', not 'othe"):
        check_compatible(same_width, model)
    own = identity_sae(model.cfg.d_model, HOOK, model_name="othello-gpt-cpu")
    assert check_compatible(own, model) == HOOK
    with pytest.raises(SAEMismatchError, match="not 'othello-gpt-cpu-random-init'"):
        check_compatible(own, random_init_twin(model))


def test_probes_of_another_width_fail_clearly_before_the_sweep():
    model, other = tiny_model(), OthelloGPTConfig(n_layers=2, d_model=16, n_heads=2, d_mlp=8)
    suite = random_suite(other.build(seed=0))
    with pytest.raises(ProbeMismatchError, match="reads d_model=16.*has d_model=32"):
        intervention_sweep(model, suite, play_games(n_games=4, rng=0), n_edits=2)
    with pytest.raises(ValueError, match="valid modes are 'single' and 'from'"):
        intervention_sweep(model, random_suite(model), play_games(n_games=4, rng=0), modes=("x",))


# --- Every bad input names itself: corrupt files ----------------------------------------


def test_corrupt_model_files_are_named(saved_tiny):
    (saved_tiny / "card.json").write_text('{"note": ')
    with pytest.raises(ModelFileError, match=r"card\.json is not valid JSON .*line 1"):
        read_card(saved_tiny)
    (saved_tiny / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match=r"config\.json should hold a JSON object, not list"):
        read_config(saved_tiny)
    save_model(tiny_model(), TINY, saved_tiny)
    (saved_tiny / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelFileError, match=r"model\.safetensors \(corrupted\?\)"):
        load_model_folder(saved_tiny)


def test_a_corrupt_shard_index_is_named(saved_tiny):
    (saved_tiny / "model.safetensors.index.json").write_text("{}")
    with pytest.raises(ModelFileError, match=r"index\.json has no 'weight_map'"):
        load_model_folder(saved_tiny)


@pytest.fixture
def saved_sae(tmp_path):
    return save_sae(identity_sae(TINY.d_model, HOOK), tmp_path / "sae")


def test_corrupt_sae_files_are_named(saved_sae):
    assert load_sae_folder(saved_sae).cfg.d_in == TINY.d_model
    weights = saved_sae / "sae_weights.safetensors"
    weights.write_bytes(b"not safetensors")
    with pytest.raises(SAEFileError, match=f"Could not load the SAE in {saved_sae}"):
        load_sae_folder(saved_sae)
    (saved_sae / "cfg.json").write_text('{"d_in": 32,')
    with pytest.raises(SAEFileError, match=r"SAE config .*cfg\.json is not valid JSON"):
        load_sae_folder(saved_sae)
    (saved_sae / "cfg.json").write_text('{"d_sae": 64}')
    with pytest.raises(SAEFileError, match=r"lacks \['d_in'\]"):
        load_sae_folder(saved_sae)
    (saved_sae / "cfg.json").unlink()
    with pytest.raises(SAEFileError, match=r"cfg\.json does not exist"):
        load_sae_folder(saved_sae)


def test_corrupt_probe_files_are_named(tmp_path):
    suite = ProbeSuite(
        probes={
            "relative|x": LinearProbe(torch.zeros(4, 64, 3), torch.zeros(64, 3), "relative", "x")
        }
    )
    suite.save(tmp_path)
    assert set(ProbeSuite.load(tmp_path).probes) == {"relative|x"}
    (tmp_path / "probes.json").write_text('{"accuracy": {')
    with pytest.raises(ProbeFileError, match=r"probes\.json is not valid JSON"):
        ProbeSuite.load(tmp_path)
    (tmp_path / "probes.json").write_text('{"acuracy": {}}')
    with pytest.raises(ProbeFileError, match=r"unknown keys \['acuracy'\]; valid: \['accuracy'"):
        ProbeSuite.load(tmp_path)
    (tmp_path / "probes.json").write_text("{}")
    (tmp_path / "probes.safetensors").write_bytes(b"\x01\x02")
    with pytest.raises(ProbeFileError, match=r"probes\.safetensors \(corrupted\?\)"):
        ProbeSuite.load(tmp_path)


# --- The command line's numbers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag", "valid"),
    [
        (["eval", "--games", "0"], "--games", "a whole number >= 1"),
        (["eval", "--games", "-5"], "--games", "a whole number >= 1"),
        (["train", "--out", "R", "--max-steps", "-1"], "--max-steps", "a whole number >= 1"),
        (["train", "--out", "R", "--eval-every", "0"], "--eval-every", "a whole number >= 1"),
        (["train", "--out", "R", "--batch-games", "0"], "--batch-games", "a whole number >= 1"),
        (["train", "--out", "R", "--lr", "-1"], "--lr", "a number > 0"),
        (["train", "--out", "R", "--lr", "nan"], "--lr", "a number > 0"),
        (["train", "--out", "R", "--min-lr-ratio", "2"], "--min-lr-ratio", "a fraction"),
        (["train", "--out", "R", "--seed", "-1"], "--seed", "a whole number >= 0"),
        (["train-lm", "--out", "R", "--batch-size", "0"], "--batch-size", "a whole number >= 1"),
        (["sae", "--hook", HOOK, "--tokens", "0"], "--tokens", "a whole number >= 1"),
        (["sae", "--hook", HOOK, "--k", "0"], "--k", "a whole number >= 1"),
        (["sae", "--hook", HOOK, "--lr", "inf"], "--lr", "a number > 0"),
        (["sae", "--hook", HOOK, "--l1", "-3"], "--l1", "a number >= 0"),
        (["probes", "--games", "1.5"], "--games", "a whole number >= 1"),
        (["interventions", "--scales", "1,-3"], "--scales", "each a number > 0"),
        (["transcoders", "--layers", "0,x"], "--layers", "each a whole number >= 0"),
        (["render", "--timeout", "0"], "--timeout", "a whole number >= 1"),
    ],
)
def test_numeric_flags_are_checked_where_they_are_parsed(argv, flag, valid, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: expected " in err and valid in err and "Traceback" not in err


# --- Never hang -------------------------------------------------------------------------


@pytest.fixture
def silent_hub(monkeypatch, tmp_path):
    """A Hub endpoint that accepts connections and never answers (and an empty cache)."""
    from huggingface_hub import constants

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # kept open, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    yield tmp_path / "hub-cache"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize(
    ("load", "error"),
    [
        (lambda cache: load_model("othello-gpt", cache_dir=cache), ModelFileError),
        (lambda cache: load_model("gpt2-small", cache_dir=cache), ModelFileError),
        (
            lambda cache: load_sae("gpt2-small-res-jb", "blocks.8.hook_resid_pre"),
            SAEUnavailableError,
        ),
    ],
    ids=["othello-gpt", "gpt2-small", "published-sae"],
)
def test_a_hub_that_never_answers_is_a_clear_error_within_30_s(silent_hub, load, error):
    start = time.monotonic()
    with pytest.raises(error, match=r"the Hugging Face Hub \(http://127\.0\.0\.1:\d+\) did not"):
        load(silent_hub)
    assert time.monotonic() - start < 30


# --- Property-based: random moves and configs -------------------------------------------

WORKBENCH_ERRORS = (MoveTypeError, SquareError, ValueError, TypeError, LookupError)

squares = st.one_of(
    st.integers(-3, 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["F5", "d6", "Z9", "", "A0", "C4 "]),
    st.booleans(),
    st.none(),
)
games = st.one_of(
    st.lists(squares, max_size=8),
    st.lists(st.lists(squares, max_size=6), max_size=3),
    st.lists(st.one_of(squares, st.lists(squares, max_size=3)), max_size=4),
    squares,
)


def _own_error(err: BaseException) -> bool:
    """The workbench's own error: one of its classes, or raised by its code with a message
    (never a dependency's: numpy's IndexError, torch's RuntimeError, a KeyError ...)."""
    import traceback

    frames = traceback.extract_tb(err.__traceback__)
    raised_here = bool(frames) and "/workbench/" in frames[-1].filename
    ours = type(err).__module__.startswith("workbench")
    return isinstance(err, WORKBENCH_ERRORS) and (ours or raised_here) and bool(str(err))


def _check(call) -> object:
    try:
        return call()
    except Exception as err:  # noqa: BLE001 - the property is about which ones
        assert _own_error(err), f"raw {type(err).__module__}.{type(err).__name__}: {err}"
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(games)
def test_random_moves_give_a_result_or_the_workbenchs_error(moves):
    parsed = _check(lambda: parse_moves(moves))
    if parsed is not None:
        assert parsed.dtype == np.int64 and parsed.ndim == 2
        assert ((parsed >= -1) & (parsed < 64)).all()
        record = _check(lambda: replay(moves))
        if record is not None:
            assert (record.moves[:, : parsed.shape[1]] == parsed).all()
    for call in (encode, decode, play_games):
        result = _check(lambda call=call: call(moves))
        if result is not None and call is decode:
            assert ((result >= -1) & (result < 64)).all()


config_values = st.one_of(
    st.integers(-2, 64),
    st.floats(-1, 64),
    st.sampled_from(["gelu", "relu", "LN", "LNPre", "tanh", "", None, True]),
)
config_dicts = st.dictionaries(
    st.sampled_from(
        ["n_layers", "d_model", "n_heads", "d_mlp", "act_fn", "normalization_type", "d_vocab"]
        + ["n_ctx", "kind", "extra"]
    ),
    config_values,
    max_size=10,
)


@settings(max_examples=150, deadline=None)
@given(config_dicts, st.booleans())
def test_random_configs_give_a_config_or_the_workbenchs_error(data, complete):
    if complete:  # mostly valid sizes, so the checks past the keys are reached too
        data = {"n_layers": 1, "d_model": 8, "n_heads": 2, "d_mlp": 16} | data
        data |= {"act_fn": data.get("act_fn", "gelu"), "normalization_type": "LN"}
    for cls in (OthelloGPTConfig, LMConfig):
        config = _check(lambda cls=cls: cls.from_dict(dict(data)))
        if config is not None:
            assert config.d_model % config.n_heads == 0 and config.act_fn in ("gelu", "relu")


@settings(max_examples=60, deadline=None)
@given(config_dicts)
def test_random_config_files_give_a_model_folder_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("config")
    (folder / "config.json").write_text(json.dumps(data))
    try:
        read_config(folder)
    except ModelFileError as err:
        assert "config.json" in str(err)
