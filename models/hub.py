"""Don't wait a minute for a hub that can't be reached.

Given a hub id (not a local folder) with no network, transformers retries its downloads for about a
minute before failing. Before loading one, the hub's address is tried once with a short connect
timeout; if nothing answers, huggingface_hub is put in offline mode for that load, so a model already
in the local cache still loads and any other fails at once with transformers' own "offline" error.
An `HF_HUB_OFFLINE` the user set is left alone.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

CONNECT_TIMEOUT_S = 3.0


def is_local(model_id: str) -> bool:
    return Path(model_id).expanduser().exists() or model_id.startswith(("/", "./", "../", "~"))


def hub_reachable(timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub's endpoint (`HF_ENDPOINT`) opens within `timeout`."""
    from huggingface_hub import constants

    parts = urlsplit(constants.ENDPOINT)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def offline_unless_reachable(model_id: str) -> bool:
    """Before loading `model_id`: offline mode on when it is a hub id and the hub can't be reached,
    off again when it can (unless the user set `HF_HUB_OFFLINE`). Returns whether offline mode is on."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE"):
        return bool(constants.HF_HUB_OFFLINE)
    if is_local(model_id):
        return bool(constants.HF_HUB_OFFLINE)
    constants.HF_HUB_OFFLINE = not hub_reachable()
    return constants.HF_HUB_OFFLINE
