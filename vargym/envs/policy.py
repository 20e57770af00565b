"""`VARPolicy`: the VAR transformer as a TensorDict policy; it owns the KV cache (never the tensordict)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

if TYPE_CHECKING:
    from vargym.models import VAR, ScaleSampler

__all__ = ["VARPolicy"]


class VARPolicy(TensorDictModuleBase):
    """Samples the current scale's tokens for N lockstep episodes, scale by scale.

    Reads ``class_label`` [N] and ``scale`` [N]; writes ``action`` int64 [N, max_tokens] (the scale's tokens,
    zero-padded to the largest scale), ``action_log_prob`` float [N, max_tokens] (log-prob of each token
    under the sampling distribution, 0 in the padding) and ``token_mask`` bool [N, max_tokens].

    The policy holds a `vargym.models.ScaleSampler` (KV cache and f_hat). On ``scale == 0`` it starts a new
    one for the given labels; on scale k > 0 it continues the current one, which must be at scale k. So
    calls must come in order, one policy per env batch, with all episodes at the same scale (lockstep).
    A stray extra call at scale 0 (torchrl ``Collector`` probes its policy once) just restarts the episode;
    call `manual_seed` afterwards to restore the random stream.

    Args:
        var: the VAR transformer (with its VQ-VAE attached).
        temperature, cfg, top_k, top_p: the sampling distribution (``cfg`` as in ``var.sample``: guidance
            ``t_k = cfg * k / (K - 1)``; 0 = unguided). `var.forward_rl` with the same values gives the same
            log-probs.
        seed: seed of the policy's own ``torch.Generator`` (on the VAR's device).

    Example:
        >>> policy = VARPolicy(var, temperature=0.7, seed=0)
        >>> td = policy(TensorDict({"class_label": labels, "scale": torch.zeros_like(labels)}, [N]))
        >>> td["action"].shape  # [N, max_tokens]
    """

    in_keys = ["class_label", "scale"]
    out_keys = ["action", "action_log_prob", "token_mask"]

    def __init__(
        self,
        var: VAR,
        temperature: float = 1.0,
        cfg: float = 0.0,
        top_k: int = 0,
        top_p: float = 0.0,
        seed: int = 0,
    ):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if top_k < 0 or not 0.0 <= top_p <= 1.0:
            raise ValueError(f"top_k must be >= 0 and top_p in [0, 1], got top_k={top_k}, top_p={top_p}")
        self.var = var
        self.temperature, self.cfg, self.top_k, self.top_p = (
            float(temperature),
            float(cfg),
            int(top_k),
            float(top_p),
        )
        self.scale_sizes = [pn * pn for pn in var.patch_nums]
        self.max_tokens = max(self.scale_sizes)
        self.generator = torch.Generator(device=var.pos_1LC.device)
        self.manual_seed(seed)
        self.sampler: ScaleSampler | None = None

    def manual_seed(self, seed: int) -> None:
        """Reseed the sampling generator (and drop any episode in progress)."""
        self.generator.manual_seed(int(seed))
        self.sampler = None

    def make_sampler(self, labels: torch.Tensor) -> ScaleSampler:
        """A fresh `ScaleSampler` for ``labels`` [N] with this policy's distribution and generator."""
        return self.var.make_sampler(
            labels,
            cfg=self.cfg,
            top_k=self.top_k,
            top_p=self.top_p,
            temperature=self.temperature,
            generator=self.generator,
        )

    @torch.no_grad()
    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        labels = tensordict.get("class_label").reshape(-1)  # [N]
        scale = tensordict.get("scale").reshape(-1)  # [N]
        k = int(scale[0])
        if k == 0:
            self.sampler = self.make_sampler(labels)
        elif self.sampler is None or self.sampler.scale != k:
            have = None if self.sampler is None else self.sampler.scale
            raise RuntimeError(
                f"VARPolicy got scale {k} but its sampler is at scale {have}: call it once per scale "
                f"in order, starting at scale 0, with one policy per env batch"
            )
        elif self.sampler.B != labels.shape[0]:
            raise RuntimeError(
                f"VARPolicy got {labels.shape[0]} episodes at scale {k} but started {self.sampler.B}"
            )
        tokens, log_probs = self.sampler.step()  # [N, pn_k^2] each
        n = tokens.shape[1]
        pad = self.max_tokens - n
        action = torch.nn.functional.pad(tokens, (0, pad))  # [N, max_tokens]
        log_prob = torch.nn.functional.pad(log_probs, (0, pad))
        mask = torch.zeros_like(action, dtype=torch.bool)
        mask[:, :n] = True
        batch = tensordict.batch_size
        tensordict.set("action", action.reshape(*batch, self.max_tokens))
        tensordict.set("action_log_prob", log_prob.reshape(*batch, self.max_tokens))
        tensordict.set("token_mask", mask.reshape(*batch, self.max_tokens))
        return tensordict
