"""Fixtures for the env tests: one random-weight tiny model (64 px, 6 scales, L=130, V=512, 10 classes)."""

import pytest
import torch

from vargym.models import build_preset


@pytest.fixture(scope="session")
def tiny():
    """(vqvae, var) of the tiny preset with fixed random weights, in eval mode."""
    torch.manual_seed(0)
    vqvae, var = build_preset("tiny")
    return vqvae.eval(), var.eval()
