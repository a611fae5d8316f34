"""The README's notebook gallery: a committed, small screenshot for every notebook, each shown
in the README (the browser test takes them: ``tests/gallery.py``)."""

from gallery import COMMITTED, MAX_BYTES, ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_notebook_has_a_small_committed_screenshot_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for nb in NOTEBOOKS:
        shot = COMMITTED / f"{nb.stem}.png"
        assert shot.is_file(), f"{shot} missing: see tests/gallery.py to take it"
        assert shot.read_bytes()[:8] == PNG, shot
        assert shot.stat().st_size < MAX_BYTES, (shot, shot.stat().st_size)
        assert f"docs/img/{nb.stem}.png" in readme, f"the README's gallery lacks {nb.stem}"


def test_the_gallery_holds_no_screenshot_of_a_notebook_that_is_gone():
    assert sorted(p.stem for p in COMMITTED.glob("*.png")) == [nb.stem for nb in NOTEBOOKS]
