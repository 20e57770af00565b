"""Rewards over HTTP: ``vargym serve-reward SPEC`` serves any reward; ``remote:http://host:port`` scores with it.

Heavy reward models (HPSv2, VLM judges, ...) often live in another environment or on another GPU. The
wire format is safe and compact: the request body is a safetensors file holding the images as uint8
``[N, 3, H, W]`` (the quantisation a PNG would apply; 4x smaller than float32) and, when known, the labels;
the prompt, step and iteration travel in the safetensors metadata. The answer is JSON:
``{"total": [N floats], "components": {name: [N floats]}}``. Nothing is pickled either way.

The client (`RemoteReward`) uses only the standard library, retries connection failures with backoff,
and raises `RewardServerError`, naming the URL, when the server is unreachable, times out or answers
something that is not a score per image (never a silent 0). The server (`vargym.rewards.serving`) needs
the ``serve`` extra (FastAPI + uvicorn).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import torch

from vargym.errors import VargymError
from vargym.rewards.base import Reward, RewardContext

__all__ = ["RemoteReward", "RewardServerError", "decode_request", "encode_request", "request_json"]

PREFIX = "remote:"


class RewardServerError(VargymError):
    """The reward server is unreachable, timed out, or answered garbage."""


def request_json(
    url: str,
    body: bytes | None = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 0.5,
    retry_statuses: tuple[int, ...] = (),
    unreachable_hint: str = "",
):
    """One HTTP exchange answered with JSON, retried with exponential backoff on connection failures.

    Answers with a status in ``retry_statuses`` (e.g. 429, 503 from a busy model server) are retried too;
    any other HTTP error raises at once with the server's message.

    Raises:
        RewardServerError: unreachable or timing out after ``retries + 1`` attempts, an HTTP error, or an
            answer that is not JSON; the message names the URL.
    """
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode()
            break
        except urllib.error.HTTPError as e:  # the server answered: an error of ours or of the model
            detail = e.read().decode(errors="replace")[:500]
            if e.code not in retry_statuses or attempt == retries:
                raise RewardServerError(f"{url} answered {e.code}: {detail}") from e
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            if attempt == retries:
                raise RewardServerError(
                    f"{url} is unreachable ({getattr(e, 'reason', e)}) after {retries + 1} attempts"
                    + (f"; {unreachable_hint}" if unreachable_hint else "")
                ) from e
        time.sleep(backoff * 2**attempt)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RewardServerError(f"{url} answered non-JSON: {text[:200]!r}") from e


def encode_request(images: torch.Tensor, context: RewardContext) -> bytes:
    """Images [N, 3, H, W] in [0, 1] and the context -> safetensors bytes (uint8 images, int64 labels)."""
    from safetensors.torch import save

    tensors = {"images": images.detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().contiguous()}
    if context.labels is not None:
        tensors["labels"] = context.labels.detach().long().cpu().contiguous()
    meta = {k: str(v) for k, v in (("prompt", context.prompt), ("step", context.step),
                                   ("iteration", context.iteration)) if v is not None}
    for name in ("class_names", "image_prompts", "metadata"):
        if getattr(context, name) is not None:
            meta[name] = json.dumps(list(getattr(context, name)))
    return save(tensors, metadata=meta)


def decode_request(body: bytes) -> tuple[torch.Tensor, RewardContext]:
    """The inverse of `encode_request`: float images in [0, 1] and the context."""
    from safetensors.torch import load

    tensors = load(body)
    images = tensors.get("images")
    if images is None or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError("the request must hold 'images': uint8 [N, 3, H, W]")
    header_len = int.from_bytes(body[:8], "little")  # safetensors: u64 length, then the JSON header
    meta = json.loads(body[8:8 + header_len]).get("__metadata__") or {}
    context = RewardContext(labels=tensors.get("labels"), prompt=meta.get("prompt"),
                            step=int(meta["step"]) if "step" in meta else None,
                            iteration=int(meta["iteration"]) if "iteration" in meta else None,
                            **{name: json.loads(meta[name]) for name in ("class_names", "image_prompts", "metadata")
                               if name in meta})
    return images.float() / 255, context


class RemoteReward(Reward):
    """A reward computed by a ``vargym serve-reward`` server; behaves like the local reward it serves.

    Args:
        url: ``http://host:port`` of the server.
        timeout: seconds to wait for one answer.
        retries: further attempts after a connection failure (exponential backoff from ``backoff`` s).
        batch_size: images per request (larger batches are split).

    Example:
        >>> reward = vargym.rewards.make("remote:http://gpu-box:8000")
        >>> reward(images, RewardContext(labels=labels)).components   # the served reward's own components
    """

    def __init__(self, url: str, timeout: float = 120.0, retries: int = 3, backoff: float = 0.5,
                 batch_size: int = 256) -> None:
        url = url.removeprefix(PREFIX).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"remote reward url must start with http:// or https://, got {url!r}")
        super().__init__(name=f"remote:{url}")
        self.url, self.timeout, self.retries, self.backoff, self.batch_size = url, timeout, retries, backoff, batch_size
        self.info = self._request("GET", "/info")
        if not isinstance(self.info, dict) or "name" not in self.info:
            raise RewardServerError(f"{url}/info did not describe a vargym reward server: {self.info!r}")
        self.served_name = str(self.info["name"])
        self.input_size = self.info.get("input_size")

    def _request(self, method: str, path: str, body: bytes | None = None):
        headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
        return request_json(self.url + path, body, method=method, headers=headers, timeout=self.timeout,
                            retries=self.retries, backoff=self.backoff,
                            unreachable_hint="start it with `vargym serve-reward NAME --port PORT`")

    def score(self, images: torch.Tensor, context: RewardContext) -> dict[str, torch.Tensor]:
        parts: dict[str, list[torch.Tensor]] = {}
        for start in range(0, images.shape[0], self.batch_size):
            rows = slice(start, start + self.batch_size)
            chunk_context = context.index(rows)
            answer = self._request("POST", "/score", encode_request(images[rows], chunk_context))
            n = images[rows].shape[0]
            for key, values in self._check(answer, n).items():
                parts.setdefault(key, []).append(values)
        return {k: torch.cat(v).to(images.device) for k, v in parts.items()}

    def _check(self, answer, n: int) -> dict[str, torch.Tensor]:
        try:
            out = {"total": answer["total"], **answer.get("components", {})}
            tensors = {k: torch.tensor(v, dtype=torch.float32) for k, v in out.items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise RewardServerError(f"reward server {self.url} answered without a total per image: "
                                    f"{str(answer)[:200]}") from e
        bad = {k: tuple(v.shape) for k, v in tensors.items() if tuple(v.shape) != (n,)}
        if bad:
            raise RewardServerError(f"reward server {self.url} answered shapes {bad} for {n} images")
        return tensors
