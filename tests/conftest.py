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


@pytest.fixture(scope="session")
def fid_inception_weights(tmp_path_factory) -> Path:
    """A random state dict of torch-fidelity's FID Inception, saved as its official weights file is."""
    from torch_fidelity import feature_extractor_inceptionv3 as fidelity

    with pytest.MonkeyPatch.context() as patch:  # build the network without its (unreachable) weights
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda *args, **kwargs: None)
        torch.manual_seed(0)
        network = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    # calibrate the batch norms on random images, so that features neither vanish nor saturate
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average over the calibration batches
    network.train()
    with torch.no_grad():
        network(torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8))
    path = tmp_path_factory.mktemp("fid_inception") / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(network.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory) -> Path:
    """A tiny T5 folder built here (`tests.tiny_t5`): 64-wide features, the width of ``tiny-llamagen-t2i``."""
    pytest.importorskip("transformers")
    from tests.tiny_t5 import build_tiny_t5

    return build_tiny_t5(tmp_path_factory.mktemp("tiny_t5") / "t5")


@pytest.fixture
def text_generator(tiny_t5):
    """``random:tiny-llamagen-t2i`` with the tiny T5 and a non-zero output layer (its init is zero: uniform)."""
    from vargym.models import load_generator

    torch.manual_seed(0)
    generator = load_generator("random:tiny-llamagen-t2i", text_encoder=tiny_t5)
    torch.nn.init.normal_(generator.gpt.output.weight, std=0.5)
    return generator
