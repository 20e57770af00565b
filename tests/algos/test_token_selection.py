"""Token-level credit: the entropy-selected tokens (GCPO's critical tokens) against a direct formula."""

import math

import pytest
import torch
from tensordict import TensorDict

from vargym.algos import make_algorithm
from vargym.algos.base import select_uncertain_tokens


def direct(entropy, fraction, mask):
    out = torch.zeros_like(mask)
    for i in range(entropy.shape[0]):
        valid = [t for t in range(entropy.shape[1]) if mask[i, t]]
        keep = max(1, math.ceil(fraction * len(valid)))
        ranked = sorted(valid, key=lambda t: (-float(entropy[i, t]), t))[:keep]
        out[i, ranked] = True
    return out


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 1.0])
def test_selection_is_the_top_fraction_of_each_rows_valid_tokens(fraction):
    generator = torch.Generator().manual_seed(0)
    entropy = torch.rand(5, 12, generator=generator).round(decimals=1)  # ties on purpose
    mask = torch.rand(5, 12, generator=generator) > 0.2
    mask[:, 0] = True
    assert torch.equal(select_uncertain_tokens(entropy, fraction, mask), direct(entropy, fraction, mask))
    assert torch.equal(select_uncertain_tokens(entropy, fraction), direct(entropy, fraction, torch.ones_like(mask)))


def test_only_selected_tokens_carry_the_policy_gradient():
    N, T = 4, 6
    generator = torch.Generator().manual_seed(1)
    entropy = torch.rand(N, T, generator=generator)
    log_prob = torch.randn(N, T, generator=generator).requires_grad_(True)
    td = TensorDict({"log_prob": log_prob, "old_log_prob": log_prob.detach(), "entropy": entropy,
                     "advantage": torch.randn(N, T, generator=generator), "reward": torch.randn(N),
                     "tokens": torch.zeros(N, T, dtype=torch.long)}, batch_size=[N])
    algo = make_algorithm("grpo", group_size=2, beta=0.0, token_selection="entropy", token_fraction=0.5)
    out = algo(td)
    out["loss_policy"].backward()
    selected = select_uncertain_tokens(entropy, 0.5)
    assert (log_prob.grad[~selected] == 0).all() and (log_prob.grad[selected] != 0).all()
    with pytest.raises(ValueError, match="token_selection must be one of"):
        make_algorithm("grpo", group_size=2, token_selection="random")
    with pytest.raises(ValueError, match="token_fraction"):
        make_algorithm("grpo", group_size=2, token_selection="entropy", token_fraction=0.0)


def test_a_training_run_takes_the_option(tmp_path):
    from vargym.train import TrainConfig, Trainer

    config = TrainConfig(model="random:tiny-llamagen", reward="luma", num_labels=2, group_size=2, minibatch_size=4,
                         steps=1, sample_every=0, checkpoint_every=0, tensorboard=False, out=str(tmp_path),
                         tokens_per_step=16, algo_kwargs={"token_selection": "entropy", "token_fraction": 0.3},
                         sampling={"precision": "float32", "decode_precision": "float32"})
    metrics = Trainer(config).step()
    assert math.isfinite(metrics["loss"])
