"""Small builders shared by the tests."""

from __future__ import annotations

import socket
from contextlib import contextmanager

from workbench.models.config import OthelloGPTConfig

TINY = OthelloGPTConfig(n_layers=2, d_model=32, n_heads=2, d_mlp=64)


def tiny_model(seed: int = 0):
    return TINY.build(seed=seed)


@contextmanager
def network_blocked():
    """Make any non-loopback connection fail, as on an air-gapped machine."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"network blocked in test: connection to {address}")
        return real_connect(self, address)

    socket.socket.connect = guarded
    try:
        yield
    finally:
        socket.socket.connect = real_connect
