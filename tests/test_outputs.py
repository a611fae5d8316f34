import json
from pathlib import Path

import pytest

from workbench.models.io import REPO_ROOT
from workbench.outputs import (
    MARKER,
    KeptFolderWarning,
    OutputFolderError,
    check_output_dir,
    output_dir,
    plain_name,
    remove_output,
)


def _write(folder: Path, text: str) -> Path:
    with output_dir(folder, writer="test") as tmp:
        (tmp / "page.html").write_text(text)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text(text)
    return folder


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir())


def test_a_folder_the_workbench_wrote_is_replaced_whole_with_nothing_left_beside(tmp_path):
    out = _write(tmp_path / "site", "one")
    record = json.loads((out / MARKER).read_text())
    assert record["written_by"] == "test" and record["files"] == ["page.html", "sub/a.txt"]
    _write(out, "two")
    assert (out / "page.html").read_text() == "two" and (out / "sub" / "a.txt").read_text() == "two"
    assert _siblings(out) == ["site"]  # no temporary or old folder left


def test_a_failure_while_writing_leaves_the_old_folder_as_it_was(tmp_path):
    out = _write(tmp_path / "site", "one")
    with pytest.raises(RuntimeError, match="boom"), output_dir(out, writer="test") as tmp:
        (tmp / "page.html").write_text("half")
        raise RuntimeError("boom")
    assert (out / "page.html").read_text() == "one"
    assert _siblings(out) == ["site"]


def test_a_users_file_is_never_deleted_without_overwrite_and_the_error_names_the_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputFolderError, match=rf"'{out}' .*thesis.tex.*--overwrite"):
        _write(out, "one")
    assert (out / "thesis.tex").read_text() == "years of work" and _siblings(out) == ["mine"]
    with output_dir(out, writer="test", overwrite=True) as tmp:  # asked for: replaced
        (tmp / "page.html").write_text("one")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "page.html"]


def test_a_file_added_to_a_workbench_folder_is_the_users(tmp_path):
    out = _write(tmp_path / "site", "one")
    (out / "sub" / "notes.md").write_text("mine")
    with pytest.raises(OutputFolderError, match=r"sub/notes.md"):
        _write(out, "two")
    assert (out / "sub" / "notes.md").exists()


def test_a_file_added_while_writing_keeps_the_old_folder_beside(tmp_path):
    out = _write(tmp_path / "site", "one")
    with pytest.warns(KeptFolderWarning, match="notes.md"), output_dir(out, writer="t") as tmp:
        (out / "notes.md").write_text("mine")  # e.g. saved while a render ran
        (tmp / "page.html").write_text("two")
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("site.kept-")]
    assert len(kept) == 1 and (kept[0] / "notes.md").read_text() == "mine"


def test_an_older_output_the_caller_recognises_is_replaced(tmp_path):
    out = tmp_path / "sae"
    out.mkdir()
    (out / "cfg.json").write_text("{}")
    with output_dir(out, writer="test", recognise=lambda f: (f / "cfg.json").exists()) as tmp:
        (tmp / "cfg.json").write_text('{"new": 1}')
    assert (out / "cfg.json").read_text() == '{"new": 1}'


@pytest.mark.parametrize(
    "folder",
    [
        REPO_ROOT / "notebooks",
        REPO_ROOT,
        REPO_ROOT.parent,
        REPO_ROOT / "data" / "saes",
        Path.home(),
        Path("/"),
        Path("."),
    ],
)
def test_the_repository_its_folders_home_and_root_are_refused_even_with_overwrite(folder):
    with pytest.raises(OutputFolderError, match="never replaces"):
        check_output_dir(folder, overwrite=True)


def test_a_protected_input_folder_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(OutputFolderError, match="never replaces"):
        check_output_dir(tmp_path / "in", overwrite=True, protect=[tmp_path / "in"])
    with pytest.raises(OutputFolderError, match="holds .* never replaces"):
        check_output_dir(tmp_path, overwrite=True, protect=[tmp_path / "in"])


def test_a_file_or_a_link_is_no_output_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputFolderError, match="is a file"):
        check_output_dir(tmp_path / "f", overwrite=True)
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    with pytest.raises(OutputFolderError, match="is a link"):
        check_output_dir(tmp_path / "link", overwrite=True)


def test_remove_output_deletes_only_what_the_workbench_wrote(tmp_path):
    out = _write(tmp_path / "site", "one")
    assert remove_output(out) and not out.exists()
    assert not remove_output(out)  # nothing there
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("x")
    with pytest.raises(OutputFolderError, match="did not write it"):
        remove_output(tmp_path / "mine")
    assert (tmp_path / "mine" / "a.txt").exists()


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".hidden", "", "a..b", "/abs"])
def test_a_name_must_be_plain(name):
    with pytest.raises(OutputFolderError, match="not a plain name"):
        plain_name(name)


def test_a_plain_name_passes():
    assert plain_name("othello-gpt_small.v2") == "othello-gpt_small.v2"
