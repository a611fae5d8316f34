"""Per-cell timings of the notebooks, each run top to bottom on a fresh kernel.

    python benchmarks/notebooks.py [01 03 ...] [--note "idle"] [--src PATH] [--set NAME=VALUE]
    python benchmarks/notebooks.py --show RECORD [--previous RECORD]

1. Run each notebook with nbclient on a fresh kernel (plotly's ``plotly_mimetype``
   renderer, as ``workbench render`` does), with its default parameters unless ``--set``.
2. Time every code cell, the kernel start, and the cold start: kernel start to the end of
   the first cell that shows a figure or a widget.
3. Read the executed outputs: a cell over 3 s with no progress bar is flagged ``SILENT``;
   a tqdm bar that did not end at 100% (or ended red) is flagged ``UNFINISHED``.
4. Measure the load: CPU seconds used by other processes during each notebook (from
   ``/proc/stat`` less this process and its kernel), as cores busy on average.
5. Print the tables, side by side with the previous record, and write the record (date,
   hardware, load, git commit, per-cell seconds) to ``benchmarks/results/``.

``--src PATH``: run the kernels against another checkout's ``src`` (e.g. a git worktree of
an older commit, to measure "before").
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
import psutil
from _timing import RESULTS, ROOT, commit, hardware
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from workbench.render.execute import inject_parameters

SILENT_S = 3.0  # a cell longer than this must show progress
FIGURE_MIMES = ("application/vnd.plotly.v1+json", "image/png", "image/svg+xml")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
BAR_TEXT = re.compile(r"\d+%\|")  # tqdm's text form: " 82%|████▏ | 409600/499712"


def _busy_cpu_s() -> float:
    """CPU seconds spent by all processes since boot (not idle, not iowait)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)


def _own_cpu_s(kernel_pids: set[int]) -> float:
    me = psutil.Process()
    total = sum(me.cpu_times()[:4])
    for pid in kernel_pids:
        try:
            total += sum(psutil.Process(pid).cpu_times()[:4])
        except psutil.Error:
            pass
    return total


def _progress_bars(outputs: list, widgets: dict) -> list[dict]:
    """The tqdm bars among a cell's outputs: their final value, total and style."""
    bars = []
    for out in outputs:
        data = out.get("data", {})
        if WIDGET_MIME in data:
            if data[WIDGET_MIME]["model_id"] not in widgets:  # closed: a bar with leave=False
                if BAR_TEXT.search(data.get("text/plain", "")):
                    bars.append({"value": 1, "max": 1, "style": "closed"})
                continue
            box = widgets.get(data[WIDGET_MIME]["model_id"], {}).get("state", {})
            for ref in box.get("children", []):
                child = widgets.get(str(ref).removeprefix("IPY_MODEL_"), {})
                if child.get("model_name") in ("FloatProgressModel", "IntProgressModel"):
                    s = child["state"]
                    bars.append(
                        {
                            "value": s.get("value", 0),
                            "max": s.get("max", 100),
                            "style": s.get("bar_style", ""),
                        }
                    )
        elif out.get("output_type") == "stream" and BAR_TEXT.search(out.get("text", "")):
            last = out["text"].replace("\r", "\n").strip().splitlines()[-1]
            m = re.search(r"(\d+)/(\d+)", last)
            value, total = (int(m[1]), int(m[2])) if m else (1, 1)
            bars.append({"value": value, "max": total, "style": "text"})
    return bars


def _shows_something(outputs: list) -> bool:
    return any(any(m in o.get("data", {}) for m in (*FIGURE_MIMES, WIDGET_MIME)) for o in outputs)


def run_notebook(path: Path, parameters: dict, src: Path | None, keep: Path | None) -> dict:
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, parameters)
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}

    def on_start(cell, cell_index, **_):
        starts[cell_index] = time.perf_counter()

    def on_done(cell, cell_index, **_):
        ends[cell_index] = time.perf_counter()

    client = NotebookClient(
        nb,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        on_cell_execute=on_start,
        on_cell_executed=on_done,
    )
    env = {**os.environ, "PLOTLY_RENDERER": "plotly_mimetype"}
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    busy0, own0, t0 = _busy_cpu_s(), _own_cpu_s(set()), time.perf_counter()
    client.reset_execution_trackers()
    with client.setup_kernel(env=env):
        kernel_ready = time.perf_counter() - t0
        kernel_pids = {
            p.pid
            for p in psutil.Process().children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())
        }
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                try:
                    client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
                except CellExecutionError:  # recorded; the later cells still run
                    ends.setdefault(index, time.perf_counter())
        own_kernel = _own_cpu_s(kernel_pids) - own0
        client.set_widgets_metadata()
    wall = time.perf_counter() - t0
    if keep is not None:  # the executed notebook, outputs and all
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, keep / path.name)
    other = max(0.0, _busy_cpu_s() - busy0 - own_kernel)
    widgets = (
        nb.metadata.get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )
    cells, first_figure = [], None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or index not in ends:
            continue
        seconds = ends[index] - starts[index]
        bars = _progress_bars(cell.outputs, widgets)
        unfinished = [b for b in bars if b["value"] < b["max"] or b["style"] == "danger"]
        if first_figure is None and _shows_something(cell.outputs):
            first_figure = ends[index] - t0
        cells.append(
            {
                "cell": index,
                "seconds": round(seconds, 2),
                "first_line": cell.source.strip().splitlines()[0][:60] if cell.source else "",
                "progress_bars": len(bars),
                "silent": seconds > SILENT_S and not bars,
                "unfinished_bars": unfinished,
                "error": any(o.get("output_type") == "error" for o in cell.outputs),
            }
        )
    return {
        "notebook": path.name,
        "seconds": round(wall, 1),
        "kernel_start_s": round(kernel_ready, 2),
        "cold_start_to_first_figure_s": None if first_figure is None else round(first_figure, 1),
        "other_processes_cores": round(other / wall, 2),
        "cells": cells,
    }


def _hardware() -> dict:
    return {**hardware(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)}


def _import_seconds(src: Path | None, repeats: int = 3) -> float:
    """Best wall time of ``python -c "import workbench"`` in a fresh interpreter."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import workbench"], env=env, check=True)
        best = min(best, time.perf_counter() - start)
    return round(best, 2)


def _previous(exclude: Path | None) -> dict | None:
    records = sorted(p for p in RESULTS.glob("notebooks-*.json") if p != exclude)
    return json.loads(records[-1].read_text()) if records else None


def report(record: dict, previous: dict | None) -> None:
    before = {} if previous is None else {n["notebook"]: n for n in previous["notebooks"]}
    tag = f"previous ({previous['date'][:16]})" if previous else ""
    print(f"import workbench: {record.get('import_workbench_s')} s (best of 3, fresh interpreter)")
    print(f"\n{'notebook':34s} {'seconds':>8s} {'cold start':>10s} {'other cores':>11s}  {tag}")
    for n in record["notebooks"]:
        old = before.get(n["notebook"])
        side = ""
        if old:
            side = f"{old['seconds']:8.1f} {old['cold_start_to_first_figure_s'] or 0:10.1f}"
            side += f" {old['other_processes_cores']:11.2f}"
        print(
            f"{n['notebook']:34s} {n['seconds']:8.1f}"
            f" {n['cold_start_to_first_figure_s'] or 0:10.1f}"
            f" {n['other_processes_cores']:11.2f}  {side}"
        )
    total = sum(n["seconds"] for n in record["notebooks"])
    print(f"{'total':34s} {total:8.1f}")
    common = [n for n in record["notebooks"] if n["notebook"] in before]
    if before and common:
        new = sum(n["seconds"] for n in common)
        old = sum(before[n["notebook"]]["seconds"] for n in common)
        print(f"{'total of the notebooks in both':34s} {new:8.1f}{'':24s}  {old:8.1f}")
    for n in record["notebooks"]:
        old_cells = {c["cell"]: c for c in before.get(n["notebook"], {}).get("cells", [])}
        print(f"\n{n['notebook']}: cells (seconds; flags)")
        for c in n["cells"]:
            flags = ("SILENT " if c["silent"] else "") + (
                "UNFINISHED " if c["unfinished_bars"] else ""
            )
            flags += "ERROR" if c.get("error") else ""
            old = old_cells.get(c["cell"])
            side = f"{old['seconds']:8.2f}" if old else ""
            print(
                f"  [{c['cell']:2d}] {c['seconds']:8.2f} {side:>8s}  {c['first_line']:60s} {flags}"
            )
    slow = sorted(
        ((c["seconds"], n["notebook"], c["cell"]) for n in record["notebooks"] for c in n["cells"]),
        reverse=True,
    )[:10]
    print("\nslowest cells:")
    for seconds, name, index in slow:
        print(f"  {seconds:8.2f}  {name} [{index}]")
    flagged = [
        (n["notebook"], c["cell"]) for n in record["notebooks"] for c in n["cells"]
        if c["silent"] or c["unfinished_bars"]
    ]  # fmt: skip
    print(
        f"\ncells over {SILENT_S:g} s without progress, or with an unfinished bar:"
        f" {flagged or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="prefixes such as 01 03 (default 01-06)")
    parser.add_argument("--note", default="", help="what else the machine was doing")
    parser.add_argument("--src", type=Path, help="run the kernels on this checkout's src/")
    parser.add_argument("--set", action="append", default=[], help="parameter NAME=VALUE")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--label", default="", help="added to the record's file name")
    parser.add_argument("--keep", type=Path, help="write the executed notebooks here")
    parser.add_argument("--previous", type=Path, help="record to compare with (default: latest)")
    parser.add_argument("--show", type=Path, help="print this record (vs --previous); run nothing")
    args = parser.parse_args()
    if args.show:
        previous = json.loads(args.previous.read_text()) if args.previous else None
        report(json.loads(args.show.read_text()), previous)
        return

    nb_dir = ROOT / "notebooks" if args.src is None else args.src.parent / "notebooks"
    wanted = args.notebooks or ["01", "02", "03", "04", "05", "06"]
    paths = [p for w in wanted for p in sorted(nb_dir.glob(f"{w}*.ipynb"))]
    parameters = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in args.set)}
    load_before = os.getloadavg()
    record = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "hardware": _hardware(),
        "commit": commit(ROOT if args.src is None else args.src.parent),
        "note": args.note,
        "parameters": parameters,
        "load_average_before": [round(x, 2) for x in load_before],
        "import_workbench_s": _import_seconds(args.src),
        "notebooks": [],
    }
    previous = json.loads(args.previous.read_text()) if args.previous else _previous(None)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = record["date"].replace(":", "").replace("-", "")
    out = args.out / f"notebooks-{stamp}{'-' + args.label if args.label else ''}.json"
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        record["notebooks"].append(run_notebook(path, parameters, args.src, args.keep))
        record["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        out.write_text(json.dumps(record, indent=1) + "\n")  # after each: a crash keeps some
    report(record, previous)
    print(f"\nrecord: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
