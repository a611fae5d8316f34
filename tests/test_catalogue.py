"""data/README.md is what ``workbench data-readme`` renders from the records now
(``workbench.catalogue``)."""

from workbench import catalogue, paths


def test_data_readme_is_up_to_date():
    data = paths.CLONE_ROOT / "data"
    current = (data / catalogue.README).read_text()
    assert current == catalogue.render(data), "run `workbench data-readme`"


def test_every_artefact_says_what_made_it():
    missing = [a.path for a in catalogue.artefacts(paths.CLONE_ROOT / "data")
               if a.made_by.startswith("no command")]  # fmt: skip
    # Two hand-written records from before commands were recorded; nothing else.
    assert len(missing) <= 2, missing
