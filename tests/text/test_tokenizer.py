from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.text.tokenizer import (
    EOT,
    encode_documents,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
    wrap,
)

from helpers import tiny_lm

TEXT = "Now is the winter of our discontent made glorious summer by this sun of York. " * 30
TOK = train_tokenizer([TEXT], vocab_size=400)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_any_string_round_trips(text):
    ids = TOK.encode(text).ids
    assert TOK.decode(ids) == text


def test_vocabulary_size_and_eot_first():
    assert 257 < TOK.get_vocab_size() <= 400  # fewer when the text runs out of merges
    assert TOK.token_to_id(EOT) == 0
    assert len(TOK.encode("winter of our discontent").ids) < len("winter of our discontent")


def test_saved_tokenizer_loads_and_prepends_bos(tmp_path):
    save_tokenizer(TOK, tmp_path)
    hf = load_tokenizer(tmp_path)
    ids = hf("the winter")["input_ids"]
    assert ids[0] == 0 and hf.decode(ids[1:]) == "the winter"
    assert wrap(TOK)("the winter")["input_ids"] == ids


def test_documents_are_separated_by_eot():
    stream = encode_documents(TOK, ["a b", "c"])
    assert (stream == 0).sum() == 2 and stream[-1] == 0


def test_transformer_lens_uses_the_tokenizer():
    model, _, tok = tiny_lm()
    tokens = model.to_tokens("To be, or not")
    assert tokens[0, 0].item() == 0
    assert model.to_string(tokens[0, 1:]) == "To be, or not"


def test_documents_are_never_truncated_by_a_shared_wrapper():
    model, _, tok = tiny_lm()
    model.to_tokens("To be")  # leaves truncation and padding set on the backend tokenizer
    backend = model.tokenizer.backend_tokenizer
    long_doc = "To be, or not to be. " * 200
    assert len(encode_documents(backend, [long_doc])) == len(tok.encode(long_doc).ids) + 1
