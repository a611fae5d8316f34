"""The Hugging Face Hub: whether it answers, and cache-only access when it does not.

Offline, the Hub client retries each download for tens of seconds before giving up. The
loaders ask first (one connection attempt) and, when the Hub does not answer, read the
local cache only, so a missing file is a clear error at once.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from urllib.parse import urlparse


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face endpoint (``HF_ENDPOINT`` or huggingface.co) answers."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def cache_only() -> Iterator[None]:
    """Inside: the Hub client reads its local cache and never opens a connection."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def cache_unless_reachable() -> AbstractContextManager[None]:
    """``cache_only()`` when the Hub does not answer; otherwise the Hub as usual."""
    return nullcontext() if hub_reachable() else cache_only()
