import torch

from workbench.models.config import OthelloGPTConfig, random_init_twin

from helpers import tiny_model


def test_the_random_init_twin_is_the_same_architecture_with_fixed_random_weights():
    model = tiny_model()
    first, second = random_init_twin(model), random_init_twin(model)
    assert OthelloGPTConfig.from_hooked(first) == OthelloGPTConfig.from_hooked(model)
    assert not first.training
    for name, weight in first.state_dict().items():
        assert torch.equal(weight, second.state_dict()[name]), name
    assert not torch.equal(first.W_E, model.W_E)
