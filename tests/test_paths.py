"""Where the data folder is found: an explicit argument, $WORKBENCH_DATA, the clone, else
a clear error (``workbench.paths``)."""

import pytest

from workbench import paths
from workbench.models import registry


def test_the_clone_is_found_when_nothing_is_given(monkeypatch):
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    assert paths.data_dir() == paths.CLONE_ROOT / "data"
    assert registry.DATA_DIR == paths.CLONE_ROOT / "data"  # the old names still work
    assert registry.MODELS_DIR == paths.CLONE_ROOT / "data" / "models"


def test_the_environment_is_read_at_call_time_and_an_argument_wins(monkeypatch, tmp_path):
    (tmp_path / "env").mkdir()
    (tmp_path / "arg").mkdir()
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "env"))
    assert paths.data_dir() == tmp_path / "env"
    assert registry.MODELS_DIR == tmp_path / "env" / "models"
    assert paths.data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "arg"))
    assert paths.data_dir() == tmp_path / "arg"


def test_a_variable_that_names_no_folder_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(paths.DataDirError, match="WORKBENCH_DATA=.*nowhere.*is not a folder"):
        paths.data_dir()
    with pytest.raises(paths.DataDirError, match="data_dir=.*is not a folder"):
        paths.data_dir(tmp_path / "nowhere")


def test_outside_a_clone_with_nothing_set_the_error_says_how(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "CLONE_ROOT", tmp_path)  # as in site-packages: no clone
    with pytest.raises(paths.DataDirError, match="export WORKBENCH_DATA=/path/to/"):
        paths.data_dir()
    with pytest.raises(paths.DataDirError, match="WORKBENCH_DATA"):
        registry.load_model("othello")


def test_loaders_take_an_explicit_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path))  # empty: nothing shipped there
    with pytest.raises(registry.ModelFileError, match=str(tmp_path)):
        registry.load_model("othello")
    model = registry.load_model("othello-small", data_dir=paths.CLONE_ROOT / "data")
    assert model.cfg.model_name == "othello-gpt-cpu"
