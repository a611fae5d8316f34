import numpy as np
import pytest

from workbench.text.features import text_features
from workbench.text.induction import attention_patterns, induction_test
from workbench.text.saes import text_windows
from workbench.widgets import AttentionExplorer, TextFeatureExplorer
from workbench.widgets.static import STATIC_FIGURE_MIME

from helpers import identity_sae, tiny_lm

HOOK = "blocks.1.hook_resid_post"


def test_attention_explorer_shows_the_chosen_heads_pattern():
    model, _, _ = tiny_lm()
    explorer = AttentionExplorer(
        model, "To be, or not to be", induction=induction_test(model, half_len=10, n_seqs=2)
    )
    explorer.head.value = (1, 2)
    tokens = model.to_tokens("To be, or not to be")[0]
    static = explorer.static_figure()
    assert len(static.layout.sliders[0].steps) == model.cfg.n_layers * model.cfg.n_heads
    step = static.layout.sliders[0].steps[1 * model.cfg.n_heads + 2]
    expected = attention_patterns(model, tokens)[1, 2].numpy()
    assert np.allclose(np.array(step.args[0]["z"][0]), expected, atol=1e-6)
    bundle = explorer._repr_mimebundle_()
    assert STATIC_FIGURE_MIME in (bundle[0] if isinstance(bundle, tuple) else bundle)


def test_text_feature_explorer_searches_and_reports_bad_input():
    model, _, _ = tiny_lm(attn_only=False)
    sae = identity_sae(model.cfg.d_model, HOOK)
    windows = text_windows(model, 4, seq_len=32)
    fs = text_features(model, sae, windows, hook=HOOK)
    explorer = TextFeatureExplorer(fs, model, sae, feature=3)
    assert "Feature 3" in explorer.contexts.value
    words = [model.tokenizer.decode([int(t)]) for t in windows[0, 1:]]
    explorer.search(next(w for w in words if w.strip()))
    assert explorer.results.options and explorer.feature.value == explorer.results.options[0][1]
    with pytest.raises(ValueError, match="Type a word"):
        fs.search("", model.tokenizer)
    assert len(explorer.static_figure().layout.sliders[0].steps) >= 1
