"""The reward server behind ``vargym serve-reward``: FastAPI on uvicorn (the ``serve`` extra).

``GET /info`` -> ``{"name", "input_size", "components"}``; ``POST /score`` with a body made by
`vargym.rewards.remote.encode_request` -> ``{"total": [...], "components": {...}}``. Requests are scored one
at a time (a reward model is not thread-safe), in the order they arrive.
"""


import threading
from typing import Any

from vargym.errors import import_extra
from vargym.rewards.base import Reward, resize_for
from vargym.rewards.remote import decode_request

__all__ = ["build_app", "serve"]


def build_app(reward: Reward) -> Any:
    """The FastAPI app serving ``reward``."""
    import torch

    fastapi = import_extra("fastapi", "serve", "serving a reward")
    FastAPI, HTTPException, Request = fastapi.FastAPI, fastapi.HTTPException, fastapi.Request

    app = FastAPI(title=f"vargym reward {reward.name}")
    lock = threading.Lock()

    @app.get("/info")
    def info() -> dict[str, Any]:
        return {"name": reward.name, "input_size": reward.input_size}

    @app.post("/score")
    async def score(request: Request) -> dict[str, Any]:
        body = await request.body()
        try:
            images, context = decode_request(body)
        except Exception as e:  # a malformed body is the client's error, said plainly
            raise HTTPException(status_code=400, detail=f"bad request body: {e}") from e
        device = reward.device
        if device is not None:
            images = images.to(device)
            if context.labels is not None:
                context.labels = context.labels.to(device)
        with lock, torch.no_grad():
            try:
                out = reward(resize_for(images, reward.input_size), context)
            except (ValueError, RuntimeError) as e:
                raise HTTPException(status_code=422, detail=f"the reward failed: {e}") from e
        return {"total": out.total.float().cpu().tolist(),
                "components": {k: v.float().cpu().tolist() for k, v in out.components.items()}}

    return app


def serve(reward: Reward, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``reward`` until interrupted."""
    uvicorn = import_extra("uvicorn", "serve", "serving a reward")
    uvicorn.run(build_app(reward), host=host, port=port, log_level="warning")
