"""ValueHead: per-step pooling then an MLP; masked tokens ignored; learns per-step targets."""

import pytest
import torch

from vargym.algos import ValueHead


def test_value_head_pools_per_step_and_ignores_masked_tokens():
    torch.manual_seed(0)
    head = ValueHead(hidden_dim=4, num_steps=3, width=8)
    torch.nn.init.normal_(head.mlp[-1].weight)
    hidden = torch.randn(2, 6, 4)
    step_index = torch.tensor([[0, 1, 1, 2, 2, 2]] * 2)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 5] = False
    values = head(hidden, step_index, mask)
    assert values.shape == (2, 3)
    changed = hidden.clone()
    changed[1, 5] += 100.0  # a masked token: no effect
    torch.testing.assert_close(head(changed, step_index, mask), values)
    changed[1, 4, 0] += 1.0  # one feature of a valid token of step 2 (a shift of all features would vanish in the LayerNorm)
    diff = (head(changed, step_index, mask) - values).abs()
    assert diff[1, 2] > 0 and diff[0].sum() == 0 and diff[1, :2].sum() == 0


def test_value_head_starts_at_zero_and_fits_targets():
    torch.manual_seed(0)
    head = ValueHead(hidden_dim=4, num_steps=3, width=32)
    hidden, step_index = torch.randn(16, 6, 4), torch.tensor([[0, 1, 1, 2, 2, 2]] * 16)
    assert torch.equal(head(hidden, step_index), torch.zeros(16, 3))
    pooled = torch.stack(
        [hidden[:, :1].mean(1), hidden[:, 1:3].mean(1), hidden[:, 3:].mean(1)], 1
    )  # [N, K, C]
    # depends on the step and on the pooled features of that step (a sign survives the LayerNorm)
    target = torch.tensor([0.0, 1.0, 2.0]) + torch.sign(pooled[..., 0] - pooled[..., 1])  # [N, K]
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(200):
        loss = ((head(hidden, step_index) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * target.var().item()


def test_value_head_argument_errors():
    with pytest.raises(ValueError, match="hidden_dim and num_steps must be >= 1"):
        ValueHead(0, 3)
    with pytest.raises(ValueError, match="width must be >= 1 or None"):
        ValueHead(4, 3, width=0)
