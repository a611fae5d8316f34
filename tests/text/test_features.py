import torch

from workbench.text.features import interpretable_features, logit_effects, text_features
from workbench.text.plots import contexts_html, text_feature_figure
from workbench.text.saes import hook_activations, text_sae_metrics, text_windows

from helpers import identity_sae, tiny_lm

HOOK = "blocks.1.hook_resid_post"


def _setup():
    model, _, _ = tiny_lm(attn_only=False)
    sae = identity_sae(model.cfg.d_model, HOOK)
    tokens = text_windows(model, 6, seq_len=32)
    return model, sae, tokens


def test_an_exact_sae_recovers_all_the_loss_on_text():
    model, sae, tokens = _setup()
    m = text_sae_metrics(model, sae, tokens)
    assert abs(m.explained_variance - 1) < 1e-5
    assert abs(m.loss_recovered - 1) < 1e-4


def test_feature_activations_match_a_brute_force_encoding():
    model, sae, tokens = _setup()
    fs = text_features(model, sae, tokens, hook=HOOK)
    acts = hook_activations(model, tokens, HOOK)[:, 1:]  # identity SAE: feature 3 = relu(x_3)
    dense = acts[..., 3].clamp(min=0)
    assert torch.allclose(fs.activations(3).sort().values, dense[dense > 0].sort().values)
    assert abs(fs.frequency()[3].item() - (dense > 0).float().mean().item()) < 1e-6
    top = fs.contexts(3, 1)[0]
    window, pos = divmod(int(dense.argmax()), dense.shape[1])
    assert (top.window, top.position) == (window, pos + 1)
    assert abs(top.value - dense.max().item()) < 1e-5
    assert model.tokenizer.decode([int(tokens[window, pos + 1])]) == top.tokens[top.focus]


def test_search_finds_a_feature_planted_on_one_token():
    model, sae, tokens = _setup()
    fs = text_features(model, sae, tokens, hook=HOOK)
    target = int(tokens[0, 5])
    on_target = tokens.flatten()[fs.position] == target
    fs.value[fs.feature == 7] = 0.0  # feature 7 now fires on the target token only
    fs.value[(fs.feature == 7) & on_target] = 5.0
    keep = fs.value > 0
    fs.position, fs.feature, fs.value = fs.position[keep], fs.feature[keep], fs.value[keep]
    word = model.tokenizer.decode([target])
    assert fs.search(word, model.tokenizer)[0][0] == 7
    assert fs.token_shares(7)[0] == (word, 1.0)


def test_logit_effects_and_views():
    model, sae, tokens = _setup()
    fs = text_features(model, sae, tokens, hook=HOOK)
    boosted, suppressed = logit_effects(model, sae, 0, k=5)
    assert len(boosted) == 5 and boosted[0][1] >= boosted[-1][1] > suppressed[0][1]
    feature = interpretable_features(fs, 1)[0]
    from workbench.text.features import summarize

    fig = text_feature_figure(fs, summarize(fs, model, sae, feature), fs.contexts(feature, 3))
    assert len(fig.data) == 3
    assert "<span" in contexts_html(fs.contexts(feature, 3))
