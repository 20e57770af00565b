"""Leave-One-Out FID: the FID core against closed forms, and reward signs on synthetic features."""

import numpy as np
import pytest
import torch

from vargym.errors import WeightsNotAvailableError
from vargym.rewards import make
from vargym.rewards.loo_fid import LOOFIDReward, frechet_distance, sqrtm_psd


def _fid(mu, sigma, mu_r, sigma_r):
    return frechet_distance(mu, sigma, mu_r, sqrtm_psd(sigma_r), sigma_r.diagonal().sum())


def test_sqrtm_psd():
    a = torch.randn(6, 6, dtype=torch.float64)
    spd = a @ a.T + 0.1 * torch.eye(6, dtype=torch.float64)
    root = sqrtm_psd(spd)
    torch.testing.assert_close(root @ root, spd)


def test_fid_matches_diagonal_closed_form():
    mu, mu_r = torch.tensor([1.0, 2.0, 0.0]).double(), torch.tensor([0.0, 2.0, 3.0]).double()
    var, var_r = torch.tensor([1.0, 4.0, 0.25]).double(), torch.tensor([9.0, 1.0, 0.25]).double()
    expected = (mu - mu_r).square().sum() + (var.sqrt() - var_r.sqrt()).square().sum()
    torch.testing.assert_close(_fid(mu, torch.diag(var), mu_r, torch.diag(var_r)), expected)


def test_fid_is_zero_for_equal_stats_and_symmetric():
    a = torch.randn(5, 5, dtype=torch.float64)
    b = torch.randn(5, 5, dtype=torch.float64)
    s1, s2 = a @ a.T, b @ b.T + torch.eye(5, dtype=torch.float64)
    mu1, mu2 = torch.randn(5).double(), torch.randn(5).double()
    assert abs(_fid(mu1, s1, mu1, s1).item()) < 1e-8
    torch.testing.assert_close(_fid(mu1, s1, mu2, s2), _fid(mu2, s2, mu1, s1))


def _identity_reward(ref_mu, ref_sigma, **kw):
    return LOOFIDReward(
        feature_extractor=lambda images: images.flatten(1), reference=(ref_mu, ref_sigma), **kw
    )


def _as_images(features):
    return features.view(features.shape[0], 3, 1, 1)  # 3-d "features" carried as 1x1 images


def test_sample_towards_reference_scores_higher():
    reward = _identity_reward(torch.zeros(3), torch.eye(3))
    feats = torch.tensor([[0.1, 0.0, 0.0], [2.0, 2.0, 2.0], [-0.5, 0.3, 0.1], [0.4, -0.2, 0.6]])
    r = reward(_as_images(feats)).total
    # the outlier pulls the mean away from 0: removing it lowers FID -> it gets the lowest reward
    assert r.argmin().item() == 1 and r[1] < 0


def test_diversity_is_rewarded_against_collapsed_batch():
    torch.manual_seed(0)
    reward = _identity_reward(torch.zeros(3), torch.eye(3))
    collapsed = 0.05 * torch.randn(7, 3)
    batch = torch.cat([collapsed, torch.tensor([[1.5, -1.2, 1.0]])])  # one diverse sample
    r = reward(_as_images(batch)).total
    assert r.argmax().item() == 7 and r[7] > 0


def test_reward_matches_direct_loo_computation_with_ema():
    torch.manual_seed(0)
    ref_mu, ref_sigma = torch.zeros(3).double(), torch.eye(3).double()
    reward = _identity_reward(ref_mu, ref_sigma, ema_decay=0.5)
    first, second = torch.randn(5, 3), torch.randn(4, 3) + 0.5
    reward(_as_images(first))
    got = reward(_as_images(second)).total

    def stats(x):
        x = x.double()
        return x.mean(0), (x[:, :, None] * x[:, None, :]).mean(0)

    m0, s0 = stats(first)

    def fid_after(x):
        m1, s1 = stats(x)
        m, s = 0.5 * m0 + 0.5 * m1, 0.5 * s0 + 0.5 * s1
        return _fid(m, s - torch.outer(m, m), ref_mu, ref_sigma)

    full = fid_after(second)
    expected = torch.stack([fid_after(torch.cat([second[:i], second[i + 1 :]])) - full for i in range(4)])
    torch.testing.assert_close(got, expected.float(), atol=1e-5, rtol=1e-5)


def test_reference_from_npz_and_first_batch(tmp_path):
    path = tmp_path / "ref.npz"
    np.savez(path, mu=np.zeros(48), sigma=np.eye(48))
    reward = make("loo-fid", reference=path)
    assert reward.ref_mean.shape == (48,)
    out = reward(torch.rand(4, 3, 16, 16)).total
    assert out.shape == (4,)
    lazy = make("loo-fid")
    lazy(torch.rand(4, 3, 16, 16))
    assert lazy.ref_mean.shape == (48,)


def test_state_dict_roundtrip():
    torch.manual_seed(0)
    reward = make("loo-fid")
    reward(torch.rand(4, 3, 16, 16))
    clone = make("loo-fid")
    clone.load_state_dict(reward.state_dict())
    images = torch.rand(4, 3, 16, 16)
    torch.testing.assert_close(clone(images).total, reward(images).total)


def test_errors():
    with pytest.raises(ValueError, match="at least 2 images"):
        make("loo-fid")(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\)"):
        make("loo-fid", ema_decay=1.0)
    with pytest.raises(ValueError, match="feature_extractor must be"):
        make("loo-fid", feature_extractor="resnet")
    with pytest.raises(WeightsNotAvailableError, match="weights-inception-2015-12-05-6726825d.pth is not in torch hub.*HF_HUB_OFFLINE"):
        make("loo-fid", feature_extractor="inception")


def test_inception_features_are_the_standard_fid_network(fid_inception_weights):
    from vargym.rewards.inception import FIDInception

    reward = make("loo-fid", feature_extractor="inception", inception_weights_path=fid_inception_weights)
    assert isinstance(reward.features, FIDInception)
    out = reward(torch.rand(4, 3, 32, 32))
    assert out.total.shape == (4,) and torch.isfinite(out.total).all()
    assert reward.ref_mean.shape == (2048,)
