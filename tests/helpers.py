"""Small builders shared by the tests."""

from __future__ import annotations

import socket
from contextlib import contextmanager

from workbench.models.config import OthelloGPTConfig

TINY = OthelloGPTConfig(n_layers=2, d_model=32, n_heads=2, d_mlp=64)


def tiny_train_config(out, **kw):
    """A TrainConfig for a few quick steps of the TINY model, writing to ``out``."""
    from workbench.training.train import TrainConfig

    defaults = dict(
        model=TINY,
        out_dir=str(out),
        batch_games=8,
        max_steps=6,
        warmup_steps=2,
        eval_every=3,
        eval_games=20,
        checkpoint_every=3,
        seed=0,
        threads=1,
    )
    return TrainConfig(**{**defaults, **kw})


def tiny_model(seed: int = 0):
    return TINY.build(seed=seed)


@contextmanager
def network_blocked():
    """Make any non-loopback name lookup or connection fail, as on an air-gapped machine.

    Yields the list of refused hosts and addresses (how often the code under test tried).
    """
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo
    refused = []

    def local(host) -> bool:
        return not isinstance(host, str) or host in ("127.0.0.1", "::1", "localhost")

    def guarded_connect(self, address):
        if not local(address[0] if isinstance(address, tuple) else address):
            refused.append(address)
            raise OSError(f"network blocked in test: connection to {address}")
        return real_connect(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not local(host):
            refused.append(host)
            raise socket.gaierror(f"network blocked in test: name lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.getaddrinfo = guarded_connect, guarded_getaddrinfo
    try:
        yield refused
    finally:
        socket.socket.connect, socket.getaddrinfo = real_connect, real_getaddrinfo


def write_notebook(path, *sources: str):
    """A notebook at ``path``: a title cell, then one code cell per source."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}\n\nA test notebook.")]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def random_suite(model):
    """Relative-frame probes with random weights at every residual site."""
    import torch

    from workbench.activations import resid_sites
    from workbench.probes.probe import LinearProbe, ProbeSuite

    gen = torch.Generator().manual_seed(0)
    suite = ProbeSuite()
    for site in resid_sites(model):
        W = torch.randn(model.cfg.d_model, 64, 3, generator=gen)
        suite.probes[suite.key("relative", site)] = LinearProbe(
            W, torch.zeros(64, 3), "relative", site
        )
    return suite


def identity_sae(d_in: int, hook: str, model_name: str = "tiny"):
    """A standard sae-lens SAE that reconstructs exactly: x = relu(x) - relu(-x)."""
    import torch
    from sae_lens.saes.sae import SAEMetadata
    from sae_lens.saes.standard_sae import StandardSAE, StandardSAEConfig

    cfg = StandardSAEConfig(
        d_in=d_in,
        d_sae=2 * d_in,
        apply_b_dec_to_input=False,
        metadata=SAEMetadata(hook_name=hook, model_name=model_name),
    )
    sae = StandardSAE(cfg)
    eye = torch.eye(d_in)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def tiny_lm(seed: int = 0, *, attn_only: bool = True, vocab_size: int = 300):
    """A tiny random-weight language model with a BPE tokenizer trained on a few lines."""
    from workbench.models.lm import LMConfig
    from workbench.text.tokenizer import train_tokenizer, wrap

    text = "To be, or not to be, that is the question. " * 20 + "Whether 'tis nobler. " * 20
    tok = train_tokenizer([text], vocab_size=vocab_size)
    cfg = LMConfig(
        n_layers=2,
        d_model=32,
        n_heads=4,
        d_mlp=None if attn_only else 64,
        d_vocab=tok.get_vocab_size(),
        n_ctx=64,
    )
    return cfg.build(seed=seed, tokenizer=wrap(tok)), cfg, tok


def calls_of_recorded_command(monkeypatch, target: str, command: str, result) -> list:
    """Run a recorded ``workbench ...`` command line through the CLI with the function
    ``target`` (a dotted path) replaced by a recorder returning ``result``; the calls made."""
    import shlex

    from workbench.cli import main

    calls = []

    def record_call(*args, **kwargs):
        calls.append((args, kwargs))
        return result

    monkeypatch.setattr(target, record_call)
    main(shlex.split(command)[1:])
    return calls
