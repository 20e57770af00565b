import numpy as np
import pytest
import torch

from vargym.errors import WeightsNotAvailableError
from vargym.evaluation.fid import (
    feature_statistics,
    fid_from_features,
    fid_from_statistics,
    load_inception,
    load_statistics,
    save_statistics,
)


def _random_psd(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.standard_normal((dim, 2 * dim))
    return a @ a.T / (2 * dim)


def _fid_numpy(mu1, s1, mu2, s2) -> float:
    # independent route: tr sqrt(S1 S2) = sum of square roots of the (real, >= 0) eigenvalues of S1 S2
    eig = np.linalg.eigvals(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eig.real.clip(0)).sum())


def test_fid_matches_a_direct_numpy_computation():
    rng = np.random.default_rng(0)
    for dim in (1, 3, 16):
        mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
        s1, s2 = _random_psd(rng, dim), _random_psd(rng, dim)
        ours = fid_from_statistics(*(torch.from_numpy(x) for x in (mu1, s1, mu2, s2)))
        assert ours == pytest.approx(_fid_numpy(mu1, s1, mu2, s2), rel=1e-8, abs=1e-9)


def test_fid_closed_form_for_diagonal_covariances_and_zero_for_equal_statistics():
    mu1, mu2 = torch.tensor([0.0, 1.0]), torch.tensor([3.0, 1.0])
    s1, s2 = torch.diag(torch.tensor([4.0, 1.0])), torch.diag(torch.tensor([1.0, 9.0]))
    # |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2 = 9 + (2 - 1)^2 + (1 - 3)^2
    assert fid_from_statistics(mu1, s1, mu2, s2) == pytest.approx(14.0)
    assert fid_from_statistics(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_feature_statistics_match_numpy_and_fid_from_features():
    features = torch.randn(50, 4, dtype=torch.float64)
    mu, sigma = feature_statistics(features)
    np.testing.assert_allclose(mu.numpy(), features.numpy().mean(0))
    np.testing.assert_allclose(sigma.numpy(), np.cov(features.numpy(), rowvar=False))
    shifted = (mu + 1.0, sigma)
    assert fid_from_features(features, shifted) == pytest.approx(4.0)  # only the means differ, by 1 per dim


def test_statistics_file_round_trip_and_errors(tmp_path):
    mu, sigma = torch.randn(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    path = save_statistics(tmp_path / "ref.npz", mu, sigma)
    loaded = load_statistics(path)
    torch.testing.assert_close(loaded[0], mu)
    torch.testing.assert_close(loaded[1], sigma)
    np.savez(tmp_path / "bad.npz", mean=mu.numpy())
    with pytest.raises(ValueError, match=r"lacks \['mu', 'sigma'\].*found \['mean'\]"):
        load_statistics(tmp_path / "bad.npz")
    with pytest.raises(WeightsNotAvailableError, match="missing.npz do not exist"):
        load_statistics(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="features are 5-d but the reference statistics are 3-d"):
        fid_from_features(torch.randn(10, 5), (mu, sigma))
    with pytest.raises(ValueError, match=r"sigma must have shape \(3, 3\)"):
        fid_from_statistics(mu, torch.eye(2), mu, sigma)


def test_fid_equals_torch_fidelity_on_the_same_images_and_weights(fid_inception_weights):
    """Our extractor + statistics + Frechet distance against torch-fidelity's own calculate_metrics."""
    import torch_fidelity

    generator = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (24, 3, 48, 48), dtype=torch.uint8, generator=generator)
    fake = (real.float() * 0.6 + 60).round().to(torch.uint8)  # a shifted distribution: FID well above 0
    fake[:6] = torch.randint(0, 256, (6, 3, 48, 48), dtype=torch.uint8, generator=generator)

    extractor = load_inception(fid_inception_weights)
    ours = fid_from_features(extractor(fake.float() / 255), feature_statistics(extractor(real.float() / 255)))

    class Images(torch.utils.data.Dataset):
        def __init__(self, images):
            self.images = images

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return self.images[i]

    theirs = torch_fidelity.calculate_metrics(
        input1=Images(fake), input2=Images(real), fid=True, cuda=False, verbose=False, batch_size=12,
        feature_extractor_weights_path=str(fid_inception_weights), save_cpu_ram=True,
    )["frechet_inception_distance"]
    assert theirs > 1.0, theirs
    assert ours == pytest.approx(theirs, rel=1e-3, abs=1e-6)


def test_inception_is_the_fid_network_and_refuses_other_files(fid_inception_weights, tmp_path):
    from vargym.errors import CheckpointError

    extractor = load_inception(fid_inception_weights)
    images = torch.rand(2, 3, 40, 40)
    features = extractor(images)
    assert features.shape == (2, 2048) and torch.isfinite(features).all()
    # uint8 quantisation: images that round to the same pixels give the same features
    assert torch.equal(extractor((images * 255).round() / 255 + 1e-4), features)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="other.pth is not a FID Inception state dict"):
        load_inception(tmp_path / "other.pth")
    with pytest.raises(WeightsNotAvailableError, match="does not exist"):
        load_inception(tmp_path / "missing.pth")


def test_inception_offline_without_cache_raises_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(
        WeightsNotAvailableError, match=r"weights-inception-2015-12-05-6726825d\.pth.*--inception-weights"
    ):
        load_inception()
