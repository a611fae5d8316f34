import pytest
import torch

from workbench.activations import Activations, Labels
from workbench.othello import play_games
from workbench.probes.probe import (
    LinearProbe,
    ProbeConfig,
    ProbeSuite,
    fit_probe,
    split_games,
    train_probes,
)

FAST = ProbeConfig(steps=250)


def planted_activations(n_games=120, d_model=256, noise=0.3, seed=0):
    """Activations that are a known linear function of the board, plus noise."""
    games = play_games(n_games=n_games, rng=seed)
    labels = Labels.from_games(games)
    gen = torch.Generator().manual_seed(seed)
    embed = torch.randn(64, 3, d_model, generator=gen)
    onehot = torch.nn.functional.one_hot(labels.relative, 3).float()  # game pos 64 3
    x = torch.einsum("gpsc,scd->gpd", onehot, embed) / 8
    x += noise * torch.randn(x.shape, generator=gen) / 8
    return Activations({"site": x}, labels=labels)


def test_probe_recovers_planted_linear_signal():
    acts = planted_activations()
    suite = train_probes(acts, properties=["relative", "legal"], config=FAST, progress=False)
    assert suite.mean_accuracy("relative", "site") > 0.99
    # "legal" is not planted: the probe does no better than far from perfect
    assert suite.mean_accuracy("legal", "site") < 0.97
    assert (
        suite.mean_accuracy("relative", "site")
        > suite.mean_accuracy("relative", "", "majority") + 0.3
    )


def test_split_is_by_game_and_disjoint():
    train, test = split_games(100, 0.2, seed=0)
    assert len(test) == 20 and not set(train.tolist()) & set(test.tolist())


def test_probe_save_load_round_trip(tmp_path):
    suite = train_probes(
        planted_activations(n_games=40), properties=["relative"], config=FAST, progress=False
    )
    suite.save(tmp_path)
    back = ProbeSuite.load(tmp_path)
    x = torch.randn(5, 256)
    assert torch.equal(
        back.get("relative", "site").logits(x), suite.get("relative", "site").logits(x)
    )
    assert back.accuracy == suite.accuracy


def test_shape_mismatch_and_missing_probe_errors():
    probe = LinearProbe(torch.zeros(48, 64, 3), torch.zeros(64, 3), "relative", "site")
    with pytest.raises(ValueError, match="expects d_model=48, got 32"):
        probe.logits(torch.zeros(2, 32))
    with pytest.raises(ValueError, match="has 3 rows but y has 4"):
        fit_probe(
            torch.zeros(3, 4),
            torch.zeros(4, 64, dtype=torch.long),
            n_classes=3,
            config=ProbeConfig(),
        )
    with pytest.raises(KeyError, match="available"):
        ProbeSuite().get("relative", "nowhere")
