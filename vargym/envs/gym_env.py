"""gymnasium adapters over `GenerationCore`: `GenerationEnv` (one episode, numpy) and `GenerationVectorEnv`
(batched, torch)."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from vargym.deprecation import renamed_kwargs
from vargym.envs.core import GenerationCore, make_core

__all__ = ["GenerationEnv", "GenerationVectorEnv"]


def _single_spaces(core: GenerationCore) -> tuple[spaces.Dict, spaces.MultiDiscrete]:
    condition = {f.observation_key: spaces.Discrete(f.num_values) for f in core.source.fields}
    condition |= {f.observation_key: spaces.Text(f.max_length, min_length=1, charset=f.charset)
                  for f in core.source.text_fields}
    observation = spaces.Dict(
        {
            **condition,
            "step": spaces.Discrete(core.num_steps),
            "canvas": spaces.MultiDiscrete(np.full(core.T, core.V + 1, dtype=np.int64)),
        }
    )
    return observation, spaces.MultiDiscrete(np.full(core.max_tokens, core.V, dtype=np.int64))


def _components(core: GenerationCore) -> dict[str, torch.Tensor]:
    return dict(core.last_output.components) if core.last_output is not None else {}


class GenerationEnv(gymnasium.Env):
    """Generate one image with a generator, one env step per layout step; the reward scores the image.

    ## Description
    Autoregressive image generation as an MDP. An episode is one conditional image (a class, or a prompt) made of T tokens,
    emitted in the K steps of the generator's `vargym.models.TokenLayout` (for VAR one step is one scale's
    ``pn_k x pn_k`` token map, coarse to fine). The agent (the generator's policy network, see
    `vargym.envs.GeneratorPolicy`) chooses all tokens of the current step in one action. After the last step
    the env decodes the tokens with the generator's frozen decoder and scores the image with the reward.

    ## Spaces
    - Observation ``Dict``: the condition's entries (a class model: ``class_label`` ``Discrete(C)``; a text model:
      ``prompt_id`` ``Discrete(P)`` and the prompt itself, ``prompt`` ``Text``); ``step`` ``Discrete(K)``, the index of the step
      to generate next (it stays K-1 after the last step); ``canvas`` ``MultiDiscrete([V+1] * T)``, all
      tokens so far in layout order, ``0`` = not yet generated, ``token + 1`` otherwise.
    - Action ``MultiDiscrete([V] * max_tokens)`` with ``max_tokens`` the largest step (VAR: ``pn_{K-1}^2``):
      the tokens of the current step, padded; entries past the step's size are ignored.

    ## Reward
    0 for every step but the last; at the last step the reward of the decoded image (``reward=``), resized
    once to the reward's ``input_size``. NaN/inf scores follow the reward's ``nan_policy``.

    ## Episode End
    Terminates after exactly K steps; never truncates. The final ``info`` holds ``"image"`` (float
    ``[3, H, W]`` in [0, 1]) and ``"reward_components"`` (name -> float).

    ## Arguments
    - ``model``: a `vargym.models.Generator`, a family's ``(tokenizer, network)`` tuple, or a
      `vargym.models.load_generator` spec (default ``"tiny"``). Only the decoder is used by the env.
    - ``reward``: a reward name, expression, `vargym.rewards.Reward` or callable (default ``"brightness"``).
    - ``conditions``: the pool `reset` draws from, as the generator's condition source takes it (a class
      model: a list of labels; default: all). ``reset(options={"class_label": c})`` (the condition's
      observation entries; a text model also takes ``{"prompt": "..."}``) fixes the condition of one episode. ``labels`` is its deprecated name.
    - ``group_size``: must be 1 for this single env (use `GenerationVectorEnv` for groups).
    - ``device``: where the decoder and reward run (default: the model's device).
    - ``num_classes``: needed only when ``model`` is a bare tokenizer.

    Example:
        >>> env = gymnasium.make("vargym/VAR-v0", model=build_preset("tiny"), reward="luma")
        >>> obs, info = env.reset(seed=0)
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 1}

    @renamed_kwargs(labels="conditions")
    def __init__(
        self,
        model: Any = "tiny",
        reward: Any = "brightness",
        conditions: Any = None,
        group_size: int = 1,
        device: torch.device | str | None = None,
        num_classes: int | None = None,
        render_mode: str | None = None,
    ):
        if group_size != 1:
            raise ValueError(
                f"this env runs one episode, so group_size must be 1, got {group_size}; "
                f"use the vector env (gymnasium.make_vec) for groups"
            )
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.core = make_core(model, reward, 1, conditions, 1, device, num_classes)
        self.observation_space, self.action_space = _single_spaces(self.core)
        self.render_mode = render_mode

    def _obs(self) -> dict[str, Any]:
        core = self.core
        return {
            **{k: np.int64(v[0].item()) for k, v in core.condition_observation().items()},
            **{k: v[0] for k, v in core.condition_text().items()},
            "step": np.int64(min(core.current_step, core.num_steps - 1)),
            "canvas": (core.canvas[0] + 1).cpu().numpy(),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        source = self.core.source
        keys = [f.observation_key for f in source.fields]
        text_keys = [f.observation_key for f in source.text_fields]
        if any(k in options for k in text_keys):  # a text model's prompt, by its text
            condition = source.coerce([options[next(k for k in text_keys if k in options)]], 1)
        elif any(k in options for k in keys):
            condition = source.from_observation({k: torch.as_tensor(options[k]).reshape(1) for k in keys})
        else:
            condition = source.pick(torch.tensor([int(self.np_random.integers(source.pool_size))]))
        self.core.reset(condition)
        obs = self._obs()
        if not self.observation_space.contains(obs):
            raise ValueError(f"reset options {options!r} give a condition outside this env's observation space (its "
                             f"conditions are fixed when the env is made: pass them as conditions=)")
        return obs, {}

    def step(self, action: Any):
        action = np.asarray(action)
        if action.shape != (self.core.max_tokens,) or not np.issubdtype(action.dtype, np.integer):
            raise ValueError(
                f"action must be an integer array of shape ({self.core.max_tokens},) (the token map of "
                f"step k padded to the largest step), got {action.dtype} {action.shape}"
            )
        n = self.core.step_sizes[min(self.core.current_step, self.core.num_steps - 1)]
        tokens = torch.as_tensor(action[:n].astype(np.int64), device=self.core.device).view(1, n)
        reward, terminated = self.core.step(tokens)
        info: dict[str, Any] = {}
        if terminated:
            info["image"] = self.core.last_images[0].cpu().numpy()
            info["reward_components"] = {k: float(v[0]) for k, v in _components(self.core).items()}
        return self._obs(), float(reward[0]), terminated, False, info

    def render(self) -> np.ndarray | None:
        """The last finished image as uint8 ``[H, W, 3]`` (None before the first episode ends)."""
        if self.core.last_images is None:
            return None
        return (self.core.last_images[0].permute(1, 2, 0) * 255).round().byte().cpu().numpy()


class GenerationVectorEnv(VectorEnv):
    """``num_envs`` lockstep `GenerationEnv` episodes in one batch, with torch tensors on the model's device.

    Same spaces, reward and episode end as `GenerationEnv`, batched: observations are a dict of tensors
    (the condition's entries, e.g. ``class_label`` [N]; ``step`` [N], ``canvas`` [N, T]), actions an int64
    tensor [N, max_tokens], rewards float [N], terminated/truncated bool [N]. Autoreset is DISABLED: call
    `reset` after the episodes end (they all end together). ``group_size=G`` draws N / G conditions and
    repeats each G times, so group i is envs ``[i*G, (i+1)*G)``. ``reset(seed=s)`` seeds the draws;
    ``options={"condition": c}`` (a `vargym.models.Condition` or raw values, [N]; ``"labels"`` is the old
    name) fixes them. The final info holds ``"image"`` [N, 3, H, W] and ``"reward_components"`` (name -> [N]).

    Example:
        >>> venv = gymnasium.make_vec("vargym/VAR-v0", num_envs=8, vectorization_mode="vector_entry_point",
        ...                           model=build_preset("tiny"), reward="luma", group_size=4)
    """

    metadata = {"autoreset_mode": AutoresetMode.DISABLED, "render_modes": []}

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
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
    ):
        if render_mode is not None:
            raise ValueError(f"the vector env does not render, got render_mode={render_mode!r}")
        self.core = make_core(model, reward, num_envs, conditions, group_size, device,
                              num_classes)
        if max_episode_steps is not None and max_episode_steps < self.core.num_steps:
            raise ValueError(
                f"max_episode_steps={max_episode_steps} would cut episodes of {self.core.num_steps} "
                f"steps; leave it unset"
            )
        self.num_envs, self.group_size, self.device = (
            self.core.num_envs,
            self.core.group_size,
            self.core.device,
        )
        self.autoreset_mode = AutoresetMode.DISABLED
        self.render_mode = None
        self.single_observation_space, self.single_action_space = _single_spaces(self.core)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def _obs(self) -> dict[str, torch.Tensor]:
        core = self.core
        return {
            **core.condition_observation(),
            **{k: tuple(v) for k, v in core.condition_text().items()},
            "step": torch.full((core.num_envs,), min(core.current_step, core.num_steps - 1), device=core.device),
            "canvas": core.canvas + 1,
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start all episodes (a torchrl ``reset_mask`` option is accepted: lockstep envs reset all)."""
        if seed is not None:
            self.core.seed(seed)
        options = options or {}
        self.core.reset(options.get("condition", options.get("labels")))
        return self._obs(), {}

    def step(self, actions: Any):
        core = self.core
        actions = torch.as_tensor(actions, device=core.device)
        if tuple(actions.shape) != (core.num_envs, core.max_tokens):
            raise ValueError(
                f"actions must have shape ({core.num_envs}, {core.max_tokens}) (the token maps of "
                f"step k padded to the largest step), got {tuple(actions.shape)}"
            )
        n = core.step_sizes[min(core.current_step, core.num_steps - 1)]
        reward, terminated = core.step(actions[:, :n])
        done = torch.full((core.num_envs,), terminated, dtype=torch.bool, device=core.device)
        info: dict[str, Any] = {}
        if terminated:
            info = {"image": core.last_images, "reward_components": _components(core)}
        return self._obs(), reward, done, torch.zeros_like(done), info
