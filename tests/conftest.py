import os

import pytest
import torch

# Tests are small; two threads and no spin-waiting keep them fast under load.
torch.set_num_threads(2)
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
