import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from workbench.models.config import (
    NotOthelloModelError,
    OthelloGPTConfig,
    random_init_twin,
    require_othello_model,
)

from helpers import tiny_lm, tiny_model


def test_the_random_init_twin_is_the_same_architecture_with_fixed_random_weights():
    model = tiny_model()
    first, second = random_init_twin(model), random_init_twin(model)
    assert OthelloGPTConfig.from_hooked(first) == OthelloGPTConfig.from_hooked(model)
    assert not first.training
    for name, weight in first.state_dict().items():
        assert torch.equal(weight, second.state_dict()[name]), name
    assert not torch.equal(first.W_E, model.W_E)


def test_only_models_that_read_othello_tokens_pass_the_check():
    require_othello_model(tiny_model())
    with pytest.raises(NotOthelloModelError, match=r"a vocabulary of \d+ and a context of 64\."):
        require_othello_model(tiny_lm(vocab_size=300)[0])
    short = HookedTransformerConfig(n_layers=1, d_model=8, n_ctx=20, d_head=4, d_vocab=61,
                                    act_fn="gelu")  # fmt: skip
    with pytest.raises(NotOthelloModelError, match="a context of at least 59 moves"):
        require_othello_model(HookedTransformer(short))
