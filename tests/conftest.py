import os

import pytest
import torch

os.environ.setdefault("COMPANION_PROGRESS", "0")


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
