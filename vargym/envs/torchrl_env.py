"""`GenerationTorchRLEnv`: the torchrl ``EnvBase`` face of `GenerationCore` (batch_size=[N], lockstep episodes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from tensordict import NonTensorStack, TensorDict, TensorDictBase
from torchrl.data import Categorical, Composite, NonTensor, Unbounded
from torchrl.envs import EnvBase

from vargym.deprecation import renamed_kwargs, warn_renamed
from vargym.envs.core import make_core

__all__ = ["GenerationTorchRLEnv"]


class GenerationTorchRLEnv(EnvBase):
    """N lockstep generation episodes as a torchrl env; one env step = one step of the generator's layout.

    Specs (N = ``num_envs``): observation: the condition's entries (a class model: ``class_label``
    Categorical(C) [N]; a text model: ``prompt_id`` Categorical(P) [N] and ``prompt`` NonTensor [N] strings),
    ``step`` Categorical(K) [N]
    (stays K-1 after the last step), ``canvas`` Categorical(V+1) [N, T] (0 = not yet generated,
    ``token + 1`` otherwise); action Categorical(V) [N, max_tokens], the step's tokens padded to the largest
    step (entries past the step's size are ignored); reward [N, 1], 0 until the last step. Every episode
    terminates after K steps, so done arrives for the whole batch at once and `_reset` resets everything
    (a partial ``"_reset"`` mask is not supported).

    The kwargs are those of `vargym.envs.GenerationEnv` plus ``num_envs`` and ``decode_precision`` (the decoder's
    compute dtype: "float32" or "bfloat16"). ``set_seed`` seeds the condition draws;
    `pin_conditions` fixes the conditions of every following reset. The decoded images and reward components of the
    last finished batch are ``env.core.last_images`` / ``env.core.last_output``.

    Example:
        >>> env = GenerationTorchRLEnv(model=build_preset("tiny"), reward="luma", batch_size=[8], group_size=4)
        >>> check_env_specs(env)
    """

    @renamed_kwargs(labels="conditions")
    def __init__(
        self,
        num_envs: int = 1,
        model: Any = "tiny",
        reward: Any = "brightness",
        conditions: Any = None,
        group_size: int = 1,
        device: torch.device | str | None = None,
        num_classes: int | None = None,
        batch_size: Sequence[int] | int | None = None,
        decode_precision: str = "float32",
    ):
        if batch_size is not None:  # torchrl's own spelling of the number of parallel episodes
            dims = [batch_size] if isinstance(batch_size, int) else list(batch_size)
            if len(dims) != 1:
                raise ValueError(f"batch_size must have one dimension [N], got {batch_size}")
            num_envs = int(dims[0])
        core = make_core(model, reward, num_envs, conditions, group_size, device,
                         num_classes, decode_precision=decode_precision)
        super().__init__(batch_size=torch.Size([core.num_envs]), device=core.device)
        self.core = core
        self._pinned: Any = None
        N = core.num_envs
        condition = {f.observation_key: Categorical(f.num_values, shape=(N,), dtype=torch.long, device=core.device)
                     for f in core.source.fields}
        condition |= {f.observation_key: NonTensor(shape=(N,), example_data="", device=core.device)
                      for f in core.source.text_fields}
        self.observation_spec = Composite(
            **condition,
            step=Categorical(core.num_steps, shape=(N,), dtype=torch.long, device=core.device),
            canvas=Categorical(core.V + 1, shape=(N, core.T), dtype=torch.long, device=core.device),
            shape=(N,),
            device=core.device,
        )
        self.action_spec = Categorical(
            core.V, shape=(N, core.max_tokens), dtype=torch.long, device=core.device
        )
        self.reward_spec = Unbounded(shape=(N, 1), dtype=torch.float32, device=core.device)

    def pin_conditions(self, condition: Any) -> None:
        """Use ``condition`` [N] (a `vargym.models.Condition` or raw values) at every following reset (None:
        draw them again)."""
        core = self.core
        self._pinned = None if condition is None else core.source.coerce(condition, core.num_envs, core.device)

    def pin_labels(self, labels: Any) -> None:
        """Deprecated name of `pin_conditions`."""
        warn_renamed("GenerationTorchRLEnv.pin_labels", "pin_conditions")
        self.pin_conditions(labels)

    def _obs(self) -> TensorDict:
        core = self.core
        out = TensorDict(
            {
                **core.condition_observation(),  # [N] each
                "step": torch.full(
                    (core.num_envs,), min(core.current_step, core.num_steps - 1), device=core.device
                ),
                "canvas": core.canvas + 1,  # [N, T], a fresh tensor
            },
            batch_size=self.batch_size,
            device=core.device,
        )
        for key, texts in core.condition_text().items():  # a text model's prompt: [N] strings
            out.set(key, NonTensorStack(*texts))
        return out

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        self.core.reset(self._pinned)
        out = self._obs()
        false = torch.zeros(self.core.num_envs, 1, dtype=torch.bool, device=self.core.device)
        out.set("done", false)
        out.set("terminated", false.clone())
        return out

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        core = self.core
        action = tensordict.get("action")  # [N, max_tokens]
        if tuple(action.shape) != (core.num_envs, core.max_tokens):
            raise ValueError(
                f"action must have shape ({core.num_envs}, {core.max_tokens}), got {tuple(action.shape)}"
            )
        n = core.step_sizes[min(core.current_step, core.num_steps - 1)]
        reward, terminated = core.step(action[:, :n])
        out = self._obs()
        done = torch.full((core.num_envs, 1), terminated, dtype=torch.bool, device=core.device)
        out.set("reward", reward.unsqueeze(-1))  # [N, 1]
        out.set("done", done)
        out.set("terminated", done.clone())
        return out

    def _set_seed(self, seed: int | None) -> None:
        if seed is not None:
            self.core.seed(seed)
