"""Shared test setup: one torch thread (2-thread small ops are slow on these VMs), fixed seeds, ../shared."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """Path under ../shared; skips the test with a clear reason where it is absent (a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"reference data {path} is absent, but CI must have ../shared beside the checkout")
        pytest.skip(f"reference data {path} is absent (it sits beside the checkout in CI, not in user clones)")
    return path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
