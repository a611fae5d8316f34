"""The real GPT-2 loading path, run offline on a tiny GPT-2 in the standard on-disk format."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from workbench.models import load_model
from workbench.models.io import ModelFileError
from workbench.text.tokenizer import train_tokenizer, wrap

from helpers import network_blocked

SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    """A 2-layer GPT-2 saved as the Hub cache holds it: models--gpt2/snapshots/<sha>/."""
    tok = train_tokenizer(
        ["It was the best of times, it was the worst of times. " * 40], vocab_size=300
    )
    config = GPT2Config(
        vocab_size=tok.get_vocab_size(), n_positions=64, n_ctx=64, n_embd=32, n_layer=2, n_head=4
    )
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(config).eval()
    cache = tmp_path_factory.mktemp("hub")
    repo = cache / "models--gpt2"
    folder = repo / "snapshots" / SNAPSHOT
    hf.save_pretrained(folder)
    wrap(tok).save_pretrained(folder)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT)
    return hf, cache, folder


def _same_predictions(model, hf):
    tokens = model.to_tokens("It was the best of times")
    ours = model(tokens).log_softmax(-1)
    theirs = hf(tokens).logits.log_softmax(-1)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_gpt2_loads_offline_from_the_hub_cache(tiny_gpt2):
    hf, cache, _ = tiny_gpt2
    with network_blocked():
        model = load_model("gpt2-small", cache_dir=cache)
    assert model.cfg.n_layers == 2 and model.cfg.original_architecture == "GPT2LMHeadModel"
    _same_predictions(model, hf)


def test_gpt2_loads_from_a_local_folder(tiny_gpt2):
    hf, _, folder = tiny_gpt2
    with network_blocked():
        model = load_model("gpt2-small", path=folder)
    _same_predictions(model, hf)


def test_gpt2_offline_without_files_says_how_to_provide_them(tmp_path):
    with network_blocked(), pytest.raises(ModelFileError, match="save_pretrained"):
        load_model("gpt2-small", cache_dir=tmp_path)
    with pytest.raises(ModelFileError, match="not a Hugging Face model folder"):
        load_model("gpt2-small", path=tmp_path)
