from dataclasses import asdict

from workbench.models.lm import LMConfig
from workbench.saes.train import SAETrainConfig
from workbench.text.saes import text_sae_inputs, text_sae_metrics, text_windows
from workbench.text.tokenizer import train_tokenizer, wrap

from helpers import identity_sae

HOOK = "blocks.1.hook_resid_post"


def test_text_sae_inputs_stream_the_hook_and_score_held_out_windows():
    """What ``workbench sae`` trains an LM's SAE on and scores it with (128-token windows)."""
    text = "To be, or not to be, that is the question. " * 20 + "Whether 'tis nobler. " * 20
    tok = train_tokenizer([text], vocab_size=300)
    cfg = LMConfig(n_layers=2, d_model=32, n_heads=4, d_mlp=64, d_vocab=tok.get_vocab_size(),
                   n_ctx=128)  # fmt: skip
    model = cfg.build(seed=0, tokenizer=wrap(tok))
    sae = identity_sae(model.cfg.d_model, HOOK)
    inputs = text_sae_inputs(model, SAETrainConfig(hook=HOOK, batch_size=64), eval_windows=3)
    assert next(inputs.stream(buffer_seqs=4)).shape == (64, 32)
    record = inputs.evaluate(model, sae)
    expected = asdict(text_sae_metrics(model, sae, text_windows(model, 3), hook=HOOK))
    assert record == {**expected, "held_out_windows": "3 x 128 tokens"}
