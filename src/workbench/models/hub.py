"""The Hugging Face Hub: whether it answers, and cache-only access when it does not.

Offline, the Hub client retries each download for tens of seconds before giving up, and a
Hub that accepts a connection but never answers would hold it for good. The loaders ask
first (a connection and a first answer, each within ``TIMEOUT`` seconds) and, when the Hub
does not answer, read the local cache only, so a missing file is a clear error at once;
when it answers, the calls run under ``hub_timeouts()`` so that a Hub that stalls later
still ends in an error. Every loader words that error with ``offline_message``.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from urllib.parse import urlparse

TIMEOUT = 5.0  # seconds to connect, and again to get a first answer, before giving up


def hub_endpoint() -> str:
    """The Hub the client talks to (``HF_ENDPOINT`` when set, else huggingface.co)."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_reachable(timeout: float = TIMEOUT) -> bool:
    """Whether the Hugging Face endpoint answers: a connection, then a first answer (the
    TLS handshake for https, the first byte of a HEAD reply for http), each in ``timeout``."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            if url.scheme == "https":
                context = ssl.create_default_context()
                with context.wrap_socket(sock, server_hostname=url.hostname):
                    return True  # the handshake needs the server to answer
            sock.sendall(f"HEAD / HTTP/1.0\r\nHost: {url.hostname}\r\n\r\n".encode())
            return bool(sock.recv(1))
    except (OSError, ssl.SSLError):  # refused, unreachable, timed out, handshake failed
        return False


@contextmanager
def hub_timeouts(seconds: float = TIMEOUT) -> Iterator[None]:
    """Inside: the Hub client's metadata and download requests give up after ``seconds``
    without an answer (its constants, read at each call, restored on the way out)."""
    from huggingface_hub import constants

    before = constants.HF_HUB_ETAG_TIMEOUT, constants.HF_HUB_DOWNLOAD_TIMEOUT
    constants.HF_HUB_ETAG_TIMEOUT = constants.HF_HUB_DOWNLOAD_TIMEOUT = seconds
    try:
        yield
    finally:
        constants.HF_HUB_ETAG_TIMEOUT, constants.HF_HUB_DOWNLOAD_TIMEOUT = before


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
    """``cache_only()`` when the Hub does not answer; otherwise the Hub, with timeouts."""
    return hub_timeouts() if hub_reachable() else cache_only()


def offline_message(what: str, remedy: str, err: BaseException | None = None) -> str:
    """The one wording of "the Hub did not answer and the files are not cached"."""
    cause = f" Underlying error: {type(err).__name__}: {err}" if err is not None else ""
    return (
        f"{what} could not be loaded: the Hugging Face Hub ({hub_endpoint()}) did not answer "
        f"within {TIMEOUT:g} s (or is offline), and it is not in the local Hugging Face "
        f"cache. {remedy}{cause}"
    )
