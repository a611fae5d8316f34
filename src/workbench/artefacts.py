"""Re-derive everything shipped for an OthelloGPT from its weights (``workbench artefacts``).

Probes, SAEs, transcoders and their tables are trained on one model's weights: a new or
retrained model invalidates all of them. The plan below rebuilds them with the settings
the shipped ones record in their own ``training.json`` / ``probes.json`` (a test holds it
to those records), as ``workbench`` commands run one after another:

1. The probe suite (all properties, random-init baselines); its best mine/theirs/empty
   residual site, blocks.L*, decides where the comparison SAEs go.
2. The probe intervention sweep, with those probes.
3. At every ``blocks.L.hook_resid_post`` (more activations at L*) a topk SAE (k 32) and a
   batchtopk one at k 64 (the largest L0 the SAE target allows: a second point on the
   sparsity / fidelity curve; the layer where SAEs score best against the board need not
   be L*); at L* also a standard one; a topk SAE on ``blocks.L*.hook_mlp_out``; then the
   topk SAEs' random-init twins. The SAEs of one
   model can run side by side (``--jobs``) and harvest the model's activations once for
   all of them (``--activation-cache``). A wide model's SAEs are stored as float16, so
   that each file stays a few MB (``save_dtype_flags``).
4. The comparison table (SAEs vs neurons, chance, random init, probes) at every residual site.
5. Skip transcoders at every layer.

Every step writes atomically and is a command of its own, so an interrupted rebuild
resumes with ``--start N`` (the step numbers ``--dry-run`` prints). Steps overwrite in
place; folders of the old model that the new plan does not write (another best layer's
SAEs) are left for you to remove, and the plan's test lists them by failing.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.probes.probe import ProbeSuite

PROBES = ["--games", "2000", "--steps", "400"]
INTERVENTIONS = ["--games", "500", "--edits", "200", "--scales", "3,10,30", "--modes", "from"]
TOKENS, BEST_SITE_TOKENS = 3_000_000, 4_000_000  # activations per SAE; more at the best site
TABLE_GAMES = 1000
MAX_FLOAT32_BYTES = 10 * 2**20  # SAEs larger than this in float32 are stored as float16
TRANSCODERS = ["--l1", "0.1", "--tokens", "2000000"]


@dataclass(frozen=True)
class Step:
    argv: list[str]  # a ``workbench`` command line, without the program name
    why: str
    group: str | None = None  # SAE steps on one model: may run side by side, share a cache


def probe_steps(model: str) -> list[Step]:
    return [
        Step(["probes", model, *PROBES], "probe suite; picks the best site"),
        Step(["interventions", model, *INTERVENTIONS], "probe-direction edits"),
    ]


def sae_steps(model: str, n_layers: int, best_layer: int, d_model: int) -> list[Step]:
    """Steps 3-5 of the module doc, once the best residual layer is known."""
    if not 0 <= best_layer < n_layers:
        raise ValueError(f"best_layer {best_layer} is not a layer of a {n_layers}-layer model.")
    store = save_dtype_flags(d_model)

    def sae(hook: str, architecture: str, sparsity: list[str], tokens: int) -> list[str]:
        return ["sae", model, "--hook", hook, "--threads", "1", "--architecture", architecture,
                *sparsity, "--tokens", str(tokens), *store]  # fmt: skip

    topk, batchtopk = ["--k", "32"], ["--k", "64"]
    best = f"blocks.{best_layer}.hook_resid_post"

    def every_layer(architecture: str, sparsity: list[str]) -> list[list[str]]:
        return [
            sae(f"blocks.{layer}.hook_resid_post", architecture, sparsity,
                BEST_SITE_TOKENS if layer == best_layer else TOKENS)
            for layer in range(n_layers)
        ]  # fmt: skip

    topk_every_layer = every_layer("topk", topk)
    steps = [Step(argv, "topk SAE", group="sae") for argv in topk_every_layer]
    steps += [
        Step(argv, "batchtopk SAE (k 64)", group="sae")
        for argv in every_layer("batchtopk", batchtopk)
    ]
    steps += [
        Step(sae(best, "standard", ["--l1", "1.0"], BEST_SITE_TOKENS),
             "standard (L1) SAE at the best site", group="sae"),
        Step(sae(f"blocks.{best_layer}.hook_mlp_out", "topk", topk, TOKENS),
             "topk SAE on the best layer's MLP output", group="sae"),
    ]  # fmt: skip
    steps += [
        Step([*argv, "--random-init"], "topk SAE on a random-init twin", group="sae-random-init")
        for argv in topk_every_layer
    ]
    for layer in range(n_layers):
        hook = f"blocks.{layer}.hook_resid_post"
        argv = ["sae-table", model, "--hook", hook, "--games", str(TABLE_GAMES)]
        steps.append(Step(argv, "comparison table"))
    steps.append(Step(["transcoders", model, *TRANSCODERS], "skip transcoders, every layer"))
    return steps


def save_dtype_flags(d_model: int) -> list[str]:
    """``--save-dtype float16`` where an SAE's weights (encoder and decoder) would pass
    ``MAX_FLOAT32_BYTES`` in float32: the shipped files stay a few MB (the 8-layer model's
    d_model 512: 16.8 MB -> 8.4 MB)."""
    from workbench.saes.train import SAETrainConfig  # what the SAE steps train

    float32_bytes = 2 * SAETrainConfig.expansion * d_model**2 * 4
    return ["--save-dtype", "float16"] if float32_bytes > MAX_FLOAT32_BYTES else []


def best_layer(suite: ProbeSuite, n_layers: int) -> int:
    """The layer whose residual stream the mine/theirs/empty probe reads best."""
    scores = [
        suite.mean_accuracy("relative", f"blocks.{layer}.hook_resid_post")
        for layer in range(n_layers)
    ]
    return max(range(n_layers), key=scores.__getitem__)


def run(
    steps: list[Step],
    *,
    first: int,
    dry_run: bool,
    out=None,
    jobs: int = 1,
    activation_cache: str | Path | None = None,
) -> None:
    """Run (or print) ``steps`` numbered from ``first``; stop at the first failure.

    Consecutive steps of one group run ``jobs`` at a time and, given ``activation_cache``,
    share the folder ``activation_cache/GROUP`` (``saes.cache``), removed once the group is
    done (kept after a failure, for the resumed run).
    """
    if jobs < 1:
        raise ValueError(f"jobs={jobs}: at least one step must run at a time.")
    out = out or sys.stdout
    numbered = enumerate(steps, start=first)
    for group, members in itertools.groupby(numbered, key=lambda pair: pair[1].group):
        cache = None
        if group is not None and activation_cache is not None:
            cache = Path(activation_cache) / group
        _run_side_by_side(list(members), jobs if group else 1, cache, dry_run, out)
        if cache is not None and not dry_run:
            shutil.rmtree(cache, ignore_errors=True)


def _run_side_by_side(members, jobs: int, cache: Path | None, dry_run: bool, out) -> None:
    """Start the steps in order, at most ``jobs`` at once; after a failure start no more,
    let the running ones finish, then raise."""
    pending, running, failed = list(members), [], None
    while pending or running:
        while pending and len(running) < jobs and failed is None:
            number, step = pending.pop(0)
            argv = step.argv + (["--activation-cache", str(cache)] if cache else [])
            out.write(f"[{number}] workbench {' '.join(argv)}    # {step.why}\n")
            out.flush()
            if not dry_run:
                command = [sys.executable, "-m", "workbench", *argv]
                running.append((command, subprocess.Popen(command)))
        for command, process in list(running):
            if process.poll() is not None:
                running.remove((command, process))
                if process.returncode != 0 and failed is None:
                    failed = subprocess.CalledProcessError(process.returncode, command)
        if failed is not None and not running:
            raise failed
        if running:
            time.sleep(0.2)
