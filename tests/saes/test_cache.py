import pytest
import torch
from safetensors.torch import load_file

from workbench.activations import HookNameError, resid_sites
from workbench.saes import cache as cache_module
from workbench.saes.cache import ActivationCache
from workbench.saes.train import activation_stream

from helpers import tiny_model

STREAM = {"batch_size": 256, "buffer_games": 16, "seed": 3}  # 944 positions: 3 batches a chunk


def _batches(model, hook, n=10, cache=None):
    stream = activation_stream(model, hook, cache=cache, **STREAM)
    return [next(stream) for _ in range(n)]


def test_cached_stream_is_the_stream_and_later_hooks_read_it_from_disk(tmp_path, monkeypatch):
    model = tiny_model()
    cache = ActivationCache(tmp_path, hooks=tuple(resid_sites(model)))
    first, later = "blocks.1.hook_resid_post", "blocks.0.hook_resid_post"
    filled = _batches(model, first, cache=cache)  # misses: harvests every residual site
    assert all(torch.equal(a, b) for a, b in zip(filled, _batches(model, first), strict=True))

    def no_forward(*args, **kwargs):
        raise AssertionError("a cached chunk was harvested again")

    monkeypatch.setattr(cache_module, "harvest", no_forward)
    read = _batches(model, later, cache=cache)
    monkeypatch.undo()
    assert all(torch.equal(a, b) for a, b in zip(read, _batches(model, later), strict=True))


def test_a_stream_that_ends_reads_the_games_it_needs_from_a_whole_cached_chunk(tmp_path):
    # the run's last chunk harvests 70 of its 300 games (one forward batch) where the
    # cache keeps all 300 (batches of 256 and 44): the same batches either way
    model = tiny_model()
    cache = ActivationCache(tmp_path)
    hook, options = "blocks.1.hook_resid_post", {"batch_size": 4096, "buffer_games": 300}
    plain = list(activation_stream(model, hook, end=5, **options))
    cached = list(activation_stream(model, hook, cache=cache, end=5, **options))
    assert len(plain) == 5 and all(torch.equal(a, b) for a, b in zip(plain, cached, strict=True))
    chunk = cache.stream_dir(model, seed=0, buffer_games=300) / "chunk-000001"
    stored = load_file(str(chunk / f"{hook}.safetensors"))["activations"]
    assert stored.shape[0] == 300  # the cache keeps the whole chunk, for longer runs


def test_a_site_outside_the_cached_set_is_harvested_on_its_own(tmp_path):
    model = tiny_model()
    cache = ActivationCache(tmp_path, hooks=("blocks.0.hook_resid_post",))
    _batches(model, "blocks.0.hook_resid_post", n=2, cache=cache)
    mlp = "blocks.1.hook_mlp_out"
    got = _batches(model, mlp, n=4, cache=cache)
    assert all(torch.equal(a, b) for a, b in zip(got, _batches(model, mlp, n=4), strict=True))
    chunk = cache.stream_dir(model, seed=3, buffer_games=16) / "chunk-000000"
    assert sorted(p.name for p in chunk.iterdir()) == [
        "blocks.0.hook_resid_post.safetensors",
        "blocks.1.hook_mlp_out.safetensors",
    ]


def test_each_model_has_its_own_chunks():
    a, b = tiny_model(seed=0), tiny_model(seed=1)
    cache = ActivationCache("somewhere")
    assert cache.stream_dir(a, seed=0, buffer_games=16) != cache.stream_dir(
        b, seed=0, buffer_games=16
    )
    assert cache.stream_dir(a, seed=0, buffer_games=16) != cache.stream_dir(
        a, seed=1, buffer_games=16
    )


def test_an_unknown_cached_site_fails_loudly(tmp_path):
    cache = ActivationCache(tmp_path, hooks=("blocks.9.hook_resid_post",))
    with pytest.raises(HookNameError, match="Valid names"):
        _batches(tiny_model(), "blocks.0.hook_resid_post", n=1, cache=cache)
