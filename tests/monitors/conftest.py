import pytest
import torch


@pytest.fixture
def planted():
    """x ~ N(0, I_d); positives shifted by ``delta`` along a random unit vector u.
    The ideal projection x @ u separates them with AUROC Phi(delta / sqrt(2))."""

    def make(n_pos: int, n_neg: int, d: int, delta: float, seed: int):
        gen = torch.Generator().manual_seed(seed)
        u = torch.randn(d, generator=torch.Generator().manual_seed(1234))
        u = u / u.norm()  # the same u for every seed: train and test share it
        x = torch.randn(n_pos + n_neg, d, generator=gen)
        y = torch.zeros(n_pos + n_neg, dtype=torch.bool)
        y[:n_pos] = True
        x[y] += delta * u
        return x, y, u

    return make
