"""`GeneratorPolicy`: a generator's policy network as a TensorDict policy; it owns the KV cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from vargym.deprecation import renamed_kwargs

if TYPE_CHECKING:
    from vargym.models import Generator, SamplingConfig, StepSampler

__all__ = ["GeneratorPolicy", "resolve_sampling"]


def resolve_sampling(sampling: SamplingConfig | None, fields: dict[str, Any]) -> SamplingConfig:
    """``sampling`` itself, or a `SamplingConfig` built from loose fields (``temperature=0.7, cfg=1.5``)."""
    from vargym.models import SamplingConfig

    if sampling is not None:
        if fields:
            raise TypeError(f"pass either sampling= or its fields {sorted(fields)}, not both")
        if not isinstance(sampling, SamplingConfig):
            raise TypeError(f"sampling must be a SamplingConfig, got {type(sampling).__name__}")
        return sampling
    return SamplingConfig(**fields)


class GeneratorPolicy(TensorDictModuleBase):
    """Samples the current step's tokens for N lockstep episodes, step by step.

    Reads the condition's observation entries (a class model: ``class_label`` [N]; see ``in_keys``) and
    ``step`` [N]; writes ``action`` int64 [N, max_tokens] (the step's tokens,
    zero-padded to the largest step), ``action_log_prob`` float [N, max_tokens] (log-prob of each token
    under the sampling distribution, 0 in the padding) and ``token_mask`` bool [N, max_tokens].

    The policy holds the generator's `StepSampler` (KV cache). On ``step == 0`` it starts a new one for the
    given conditions; on step k > 0 it continues the current one, which must be at step k. So calls must come in
    order, one policy per env batch, with all episodes at the same step (lockstep). A stray extra call at
    step 0 (torchrl ``Collector`` probes its policy once) just restarts the episode; call `manual_seed`
    afterwards to restore the random stream.

    Args:
        model: a `vargym.models.Generator` (or anything `vargym.models.as_generator` accepts).
        sampling: the sampling distribution; or give its fields as keywords (``temperature=0.7``).
            ``generator.forward_rl`` with the same config gives the same log-probs.
        seed: seed of the policy's own ``torch.Generator`` (on the model's device).

    Example:
        >>> policy = GeneratorPolicy(load_generator("tiny"), temperature=0.7, seed=0)
        >>> td = policy(TensorDict({"class_label": labels, "step": torch.zeros_like(labels)}, [N]))  # class model
        >>> td["action"].shape  # [N, max_tokens]
    """

    out_keys = ["action", "action_log_prob", "token_mask"]

    def __init__(self, model: Any, sampling: SamplingConfig | None = None, seed: int = 0, **sampling_fields: Any):
        from vargym.models import as_generator

        super().__init__()
        self.sampling = resolve_sampling(sampling, sampling_fields)
        self.model: Generator = as_generator(model)
        self.source = self.model.condition_source()
        self.in_keys = [*(f.observation_key for f in self.source.fields), "step"]
        self.max_tokens = self.model.layout.max_step_tokens
        self.generator = torch.Generator(device=self.model.device)
        self.manual_seed(seed)
        self.sampler: StepSampler | None = None

    def manual_seed(self, seed: int) -> None:
        """Reseed the sampling generator (and drop any episode in progress)."""
        self.generator.manual_seed(int(seed))
        self.sampler = None

    @renamed_kwargs(labels="condition")
    def make_sampler(self, condition: Any, generator: Any = None) -> StepSampler:
        """A fresh `StepSampler` for ``condition`` [N] (a `vargym.models.Condition`, or raw values such as class
        labels) with this policy's distribution and generator (or the given ``generator``: one per group of
        rows, see `vargym.models.generator.draw`)."""
        condition = self.source.coerce(condition, device=self.model.device)
        return self.model.make_sampler(condition, self.sampling, self.generator if generator is None else generator)

    @torch.no_grad()
    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        condition = self.source.from_observation(tensordict)  # [N]
        step = tensordict.get("step").reshape(-1)  # [N]
        k = int(step[0])
        if k == 0:
            self.sampler = self.make_sampler(condition)
        elif self.sampler is None or self.sampler.step_count != k:
            have = None if self.sampler is None else self.sampler.step_count
            raise RuntimeError(
                f"GeneratorPolicy got step {k} but its sampler is at step {have}: call it once per step "
                f"in order, starting at step 0, with one policy per env batch"
            )
        elif self.sampler.batch_size != len(condition):
            raise RuntimeError(
                f"GeneratorPolicy got {len(condition)} episodes at step {k} but started {self.sampler.batch_size}"
            )
        tokens, log_probs = self.sampler.step()  # [N, n_k] each
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


def __getattr__(name: str):
    if name == "VARPolicy":  # the earlier name, kept for a release
        import warnings

        warnings.warn("vargym.envs.policy.VARPolicy is deprecated: use GeneratorPolicy", DeprecationWarning,
                      stacklevel=2)
        return GeneratorPolicy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
