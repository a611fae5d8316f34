from pathlib import Path

import pytest
import torch

from workbench.activations import (
    FORWARD_MEMORY_SHARE,
    MAX_GAMES,
    MIN_GAMES,
    HookNameError,
    Labels,
    forward_bytes_per_game,
    harvest,
    harvest_to_disk,
    hook_layer,
    load_shards,
    memory_bounded_games,
    resid_sites,
    validate_hooks,
)
from workbench.othello import MINE, THEIRS, model_inputs, play_games

from helpers import tiny_model


def test_harvest_matches_run_with_cache_exactly():
    model = tiny_model()
    games = play_games(n_games=40, rng=0)
    sites = resid_sites(model) + ["blocks.1.mlp.hook_post", "blocks.0.attn.hook_pattern"]
    acts = harvest(model, games, sites, batch_size=16, progress=False)
    _, cache = model.run_with_cache(torch.from_numpy(model_inputs(games)))
    for site in sites:
        assert torch.equal(acts.acts[site], cache[site]), site


def test_early_sites_do_not_run_later_blocks():
    model = tiny_model()
    ran = []
    model.blocks[1].register_forward_hook(lambda *a: ran.append(1))
    harvest(model, play_games(n_games=4, rng=0), "blocks.0.hook_resid_post", progress=False)
    assert not ran


def test_hook_layer_is_the_block_that_owns_the_hook():
    from transformer_lens.hook_points import HookPoint

    model = tiny_model()
    for layer, block in enumerate(model.blocks):
        hooks = [m for m in block.modules() if isinstance(m, HookPoint)]
        assert hooks and all(hook_layer(h.name) == layer for h in hooks)
    for name in ("hook_embed", "ln_final.hook_scale", "blocks.x.hook_resid_post", "blocks.1"):
        with pytest.raises(HookNameError, match="not a per-block hook site"):
            hook_layer(name)


def test_unknown_hook_lists_valid_names():
    with pytest.raises(
        HookNameError,
        match=r"Valid names for this model: blocks\.L\.SITE for L in 0\.\.1 .*'hook_resid_pre'",
    ):
        validate_hooks(tiny_model(), ["blocks.0.hook_resid_typo"])


def test_labels_are_the_state_after_each_position():
    games = play_games(n_games=10, rng=1)
    labels = Labels.from_games(games)
    rel = games.boards("relative")
    assert torch.equal(labels.relative[:, 5], torch.from_numpy(rel[:, 6]).long())
    # the square just played is never empty, and belongs to the player who just moved
    played = torch.from_numpy(games.moves[:, 5]).long()
    square_state = labels.relative[torch.arange(10), 5, played]
    mover_now = labels.player[:, 5]
    mover_before = torch.from_numpy(games.player[:, 5]).long()
    expected = torch.where(mover_now == mover_before, MINE, THEIRS)  # a pass keeps the mover
    assert torch.equal(square_state, expected)


def test_disk_shards_round_trip_in_fp16(tmp_path):
    model = tiny_model()
    games = play_games(n_games=25, rng=2)
    harvest_to_disk(model, games, resid_sites(model), tmp_path, shard_games=10, progress=False)
    assert len(list(tmp_path.glob("shard-*.safetensors"))) == 3
    back = load_shards(tmp_path)
    ref = harvest(model, games, resid_sites(model), progress=False)
    for site in ref.acts:
        assert back.acts[site].dtype == torch.float16
        assert torch.allclose(back.acts[site].float(), ref.acts[site], atol=1e-2, rtol=1e-2)
    assert torch.equal(back.labels.relative, ref.labels.relative)


def test_hooks_are_removed_after_an_exception():
    model = tiny_model()
    games = play_games(n_games=4, rng=0)
    bad_tokens = torch.full((1, 80), 1)  # longer than n_ctx: the forward pass raises
    with (
        pytest.raises((RuntimeError, IndexError, AssertionError)),
        model.hooks(fwd_hooks=[("blocks.0.hook_resid_pre", lambda x, hook: x)]),
    ):
        model(bad_tokens)
    assert all(not hp._forward_hooks for hp in model.hook_dict.values())
    harvest(model, games, "blocks.0.hook_resid_pre", progress=False)
    assert all(not hp._forward_hooks for hp in model.hook_dict.values())


def test_chunked_batches_start_anywhere_and_never_make_the_chunks_before():
    from itertools import islice

    from workbench.activations import chunked_batches

    made = []

    def chunk(c, n):  # 7 rows a chunk: two whole batches of 3, the last row dropped
        made.append((c, n))
        return torch.arange(7 * c, 7 * c + 7)

    whole = [b.tolist() for b in islice(chunked_batches(chunk, per_chunk=2, batch_size=3), 6)]
    assert whole == [[0, 1, 2], [3, 4, 5], [7, 8, 9], [10, 11, 12], [14, 15, 16], [17, 18, 19]]
    made.clear()
    late = chunked_batches(chunk, per_chunk=2, batch_size=3, start=3)
    assert [b.tolist() for b in islice(late, 3)] == whole[3:]
    assert made == [(1, 2), (2, 2)]


def test_chunked_batches_end_where_asked_and_say_how_much_of_the_last_chunk_is_used():
    from workbench.activations import chunked_batches

    made = []

    def chunk(c, n):  # as above: 7 rows, two batches of 3
        made.append((c, n))
        return torch.arange(7 * c, 7 * c + 7)

    batches = [b.tolist() for b in chunked_batches(chunk, per_chunk=2, batch_size=3, end=5)]
    assert batches == [[0, 1, 2], [3, 4, 5], [7, 8, 9], [10, 11, 12], [14, 15, 16]]
    assert made == [(0, 2), (1, 2), (2, 1)]  # the last chunk asked for its one batch only
    made.clear()
    late = [b.tolist() for b in chunked_batches(chunk, per_chunk=2, batch_size=3, start=3, end=5)]
    assert late == batches[3:] and made == [(1, 2), (2, 1)]
    made.clear()
    assert list(chunked_batches(chunk, per_chunk=2, batch_size=3, start=4, end=4)) == []
    assert list(chunked_batches(chunk, per_chunk=2, batch_size=3, end=4)) != []
    assert made == [(0, 2), (1, 2)]  # ending at a chunk's edge makes no chunk after it


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_harvest_equals_filtered_run_with_cache(dtype):
    # the baseline the benchmark times: TL's own filtered, early-stopping cache
    model = tiny_model()
    games = play_games(n_games=37, rng=3)
    sites = resid_sites(model)
    acts = harvest(model, games, sites, batch_size=16, dtype=dtype, progress=False)
    tokens = torch.from_numpy(model_inputs(games))
    _, cache = model.run_with_cache(tokens, names_filter=sites, stop_at_layer=model.cfg.n_layers)
    for site in sites:
        assert acts.acts[site].dtype == dtype
        assert torch.equal(acts.acts[site], cache[site].to(dtype)), site


PEAK_SCRIPT = """
import json, sys, torch
sys.path.insert(0, {tests!r})
from helpers import tiny_model
from workbench.activations import harvest, harvest_batches, resid_sites
from workbench.othello import play_games
torch.set_num_threads(1)
model, games = tiny_model(), play_games(n_games=2000, rng=0)
from workbench.memory import peak_resident_bytes, reset_peak, resident_bytes
harvest(model, games[:8], resid_sites(model), progress=False)  # warm up, then measure
assert reset_peak(), "cannot reset the peak resident size here"
before = resident_bytes()
if {lean}:
    acts = harvest(model, games, resid_sites(model), batch_size=64, progress=False).acts
else:  # the old way: keep the batches, concatenate them
    parts = list(harvest_batches(model, games, resid_sites(model), batch_size=64, progress=False))
    acts = {{k: torch.cat([p[k] for p in parts]) for k in parts[0]}}
result = sum(a.numel() * a.element_size() for a in acts.values())
print(json.dumps({{"peak": peak_resident_bytes() - before, "result": result}}))
"""


def _peak_over_result(lean: bool) -> float:
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = PEAK_SCRIPT.format(tests=str(Path(__file__).parent), lean=lean)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    return measured["peak"] / measured["result"]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_harvest_peak_memory_is_near_the_result():
    # Peak resident memory during the harvest over the bytes of the result (~21 MB here). What
    # this guards is that the harvest holds no second copy of the result: the
    # list-and-concatenate harvest it replaced holds one and measures 2.56-2.65x, the lean one
    # 1.22-1.39x (six runs each; the spread is allocator noise). A second copy adds 1.0x, so the
    # line sits half a copy above the lean figures and half a copy below the old ones. The
    # issue-40 target (<= 1.3x) is a benchmark, measured by benchmarks/harvest.py, not a test.
    assert _peak_over_result(lean=True) <= 1.75
    assert _peak_over_result(lean=False) >= 2.1


def test_default_batching_keeps_a_pass_within_a_quarter_of_the_result():
    model = tiny_model()
    per_game = forward_bytes_per_game(model)
    result = 1000 * per_game  # a result 1,000 passes' worth of one game
    games = memory_bounded_games(model, result)
    assert games * per_game <= FORWARD_MEMORY_SHARE * result < (games + 1) * per_game
    assert memory_bounded_games(model, 10**15) == MAX_GAMES
    assert memory_bounded_games(model, 1) == MIN_GAMES


def test_default_batching_gives_the_fixed_batch_result():
    model = tiny_model()
    games = play_games(n_games=45, rng=5)
    sites = resid_sites(model) + ["blocks.0.attn.hook_pattern"]
    fixed = harvest(model, games, sites, batch_size=45, progress=False)
    default = harvest(model, games, sites, progress=False)  # a first pass of 8, then the rest
    for site in sites:
        assert torch.equal(default.acts[site], fixed.acts[site]), site
