import torch

from workbench.models import load_model
from workbench.text.induction import ablation_effects, induction_test, repeated_tokens

from helpers import tiny_lm


def test_repeated_tokens_repeat_and_skip_bos():
    model, _, _ = tiny_lm()
    tokens = repeated_tokens(model, half_len=10, n_seqs=4, seed=3)
    assert tokens.shape == (4, 21)
    assert (tokens[:, 0] == 0).all() and (tokens[:, 1:] != 0).all()
    assert torch.equal(tokens[:, 1:11], tokens[:, 11:])


def test_planted_heads_get_scores_of_one():
    """Force one head to attend as an induction head and one as a previous-token head."""
    model, _, _ = tiny_lm()
    half = 10

    def plant(pattern, hook):
        pos = pattern.shape[-1]
        induction = torch.zeros(pos, pos)
        prev = torch.zeros(pos, pos)
        for i in range(pos):
            prev[i, max(i - 1, 0)] = 1.0
            induction[i, i - half + 1 if i > half else 0] = 1.0
        pattern[:, 0] = prev
        pattern[:, 1] = induction
        return pattern

    model.add_hook("blocks.1.attn.hook_pattern", plant)
    try:
        result = induction_test(model, half_len=half, n_seqs=4)
    finally:
        model.reset_hooks()
    assert result.prev_token_scores[1, 0] == 1.0
    assert result.induction_scores[1, 1] == 1.0
    assert result.induction_scores[0].max() < 0.5  # the untouched random layer
    assert result.top_heads(1)[0][0] == "L1H1"


def test_shipped_models_have_induction_heads():
    for name in ("tiny-lm-attn-only", "tiny-lm"):
        model = load_model(name)
        result = induction_test(model, half_len=30, n_seqs=8)
        assert result.loss_drop > 2.0, name
        assert result.induction_scores.max() > 0.5, name


def test_ablating_the_top_induction_head_hurts_the_second_repeat():
    model = load_model("tiny-lm-attn-only")
    result = induction_test(model, half_len=30, n_seqs=8)
    effects = ablation_effects(model, half_len=30, n_seqs=8)
    layer, head = divmod(int(result.induction_scores.argmax()), model.cfg.n_heads)
    assert effects[layer, head] > 0.5
    assert effects.shape == (model.cfg.n_layers, model.cfg.n_heads)
