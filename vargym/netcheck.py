"""Fast answers to "can weights be downloaded now?" so that offline runs fail at once instead of hanging."""

from __future__ import annotations

import os
import socket
import threading


def offline_mode() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks every vargym download to stay off the network."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def host_reachable(host: str, timeout: float = 4.0) -> bool:
    """Whether a TCP connection to ``host:443`` opens within about ``timeout`` seconds."""
    # DNS lookups on a machine without network can hang ~45 s before failing: bound the probe with a thread.
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    return bool(result and result[0])
