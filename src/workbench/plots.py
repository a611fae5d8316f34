"""Pure plotting functions: data in, ``plotly.graph_objects.Figure`` out, never shown.

The board is drawn as in Othello notation: columns A..H left to right, row 1 at the top.
A board figure has fixed traces, in this order, so widgets can update them in place:

0. ``heatmap``: a value per square (e.g. the model's next-move probability), or blank;
1. ``black`` and 2. ``white`` stones; 3. ``legal``: outlines on the true legal moves;
4. ``last``: a ring on the last move; 5. ``flipped``: dots on the stones it flipped;
6. ``click``: invisible markers on all 64 squares that receive clicks.
"""

from __future__ import annotations

import textwrap

import numpy as np
import plotly.graph_objects as go
from jaxtyping import Bool, Float, Int

from workbench.othello.engine import GameRecord
from workbench.othello.squares import BLACK, COLUMNS, MINE, SQUARE_NAMES, WHITE

TRACE = {"heatmap": 0, "black": 1, "white": 2, "legal": 3, "last": 4, "flipped": 5, "click": 6}
_ROWS, _COLS = np.divmod(np.arange(64), 8)
BOARD_GREEN = "#2e7d4f"
GRID_GREEN = "#173f27"
BLUE = "#1565c0"  # legal-move outlines  # shows through the gaps between cells


#: The width a figure with no width of its own draws at in a 900 px notebook column.
COLUMN_FIGURE_PX = 820
#: An average character of plotly's 17 px title font, rounded up (wide letters, digits).
TITLE_CHAR_PX = 9.5


def fit_title(fig: go.Figure) -> go.Figure:
    """Wrap ``fig``'s title onto lines that fit its width (its own, or the notebook
    column's when it has none), at spaces, and make the top margin tall enough for them.
    Plotly never wraps a title: a long one runs past the figure's edge and is cut off."""
    text = fig.layout.title.text
    if not text:
        return fig
    width = fig.layout.width or COLUMN_FIGURE_PX
    chars = max(20, int((width - 40) / TITLE_CHAR_PX))
    lines = [
        wrapped
        for line in text.split("<br>")
        for wrapped in (textwrap.wrap(line, chars, break_long_words=False) or [""])
    ]
    if len(lines) == 1:
        return fig
    top = fig.layout.margin.t
    needed = 30 + 22 * len(lines)
    fig.update_layout(title_text="<br>".join(lines))
    if top is None or top < needed:  # plotly's default top margin is 100 px
        fig.update_layout(margin_t=needed)
    return fig


def _xy(mask: Bool[np.ndarray, " 64"]) -> tuple[list[int], list[int]]:
    idx = np.flatnonzero(mask)
    return _COLS[idx].tolist(), _ROWS[idx].tolist()


def _markers(mask: Bool[np.ndarray, " 64"], name: str, marker: dict) -> go.Scatter:
    x, y = _xy(mask)
    return go.Scatter(x=x, y=y, mode="markers", name=name, marker=marker, hoverinfo="skip")


def restyle_board(fig: go.Figure, traces: list[go.BaseTraceType]) -> None:
    """Move a board figure's data to ``traces`` (from ``board_traces``) in place.

    Only the data changes (positions, values and their colour range, hover text, colour bar
    shown or not), so a ``FigureWidget`` keeps its click handlers and layout.
    """
    with fig.batch_update():
        for i, trace in enumerate(traces[: TRACE["click"]]):
            for key in ("x", "y", "z", "zmin", "zmax", "text"):
                if key in trace and trace[key] is not None:
                    fig.data[i][key] = trace[key]
        fig.data[TRACE["heatmap"]].showscale = traces[TRACE["heatmap"]].showscale


def board_traces(
    board: Int[np.ndarray, " 64"],
    *,
    values: Float[np.ndarray, " 64"] | None = None,
    legal: Bool[np.ndarray, " 64"] | None = None,
    last_move: int | None = None,
    flipped: Bool[np.ndarray, " 64"] | None = None,
    value_label: str = "p(next move)",
    zmin: float | None = 0.0,
    zmax: float | None = None,
    colorscale: str | list = "board",
) -> list[go.BaseTraceType]:
    """The seven traces of one board (see the module docstring for their order).

    ``zmin=None`` / ``zmax=None`` scale to the smallest / largest value of this board, so
    ten legal moves at 0.1 each span the colour scale; the default ``"board"`` colour scale
    runs from the board's green (0) to amber, so empty, unlikely squares stay board-coloured.
    The bounds are always explicit: a slider's frames never inherit another board's scale.
    """
    board = np.asarray(board)
    z = np.zeros(64) if values is None else np.asarray(values, dtype=float)
    if values is None:  # a plain board: every cell board-green
        zmin, zmax, colorscale = 0.0, 1.0, "board"
    else:
        finite = z[np.isfinite(z)]
        zmin = (float(finite.min()) if finite.size else 0.0) if zmin is None else zmin
        zmax = (float(finite.max()) if finite.size else 1.0) if zmax is None else zmax
        zmax = zmax if zmax > zmin else zmin + 1.0  # all values equal: the lowest colour
    if colorscale == "board":
        colorscale = [[0.0, BOARD_GREEN], [1.0, "#ffc107"]]
    text = [
        f"{SQUARE_NAMES[s]}" + ("" if values is None else f"<br>{value_label}: {z[s]:.3f}")
        for s in range(64)
    ]
    no = np.zeros(64, dtype=bool)
    legal = no if legal is None else np.asarray(legal, dtype=bool)
    flipped = no if flipped is None else np.asarray(flipped, dtype=bool)
    last = no.copy()
    if last_move is not None and last_move >= 0:
        last[last_move] = True
    stone = dict(size=26, line=dict(width=1, color="#333"))
    thick, thin = dict(line=dict(width=3)), dict(line=dict(width=2))
    return [
        go.Heatmap(
            z=z.reshape(8, 8),
            x=list(range(8)),
            y=list(range(8)),
            zmin=zmin,
            zmax=zmax,
            colorscale=colorscale,
            zmid=0 if zmin is not None and zmax is not None and zmin < 0 < zmax else None,
            text=np.array(text).reshape(8, 8),
            hoverinfo="text",
            showscale=values is not None,
            colorbar=dict(title=value_label, len=0.55, y=1.0, yanchor="top"),
            xgap=2,
            ygap=2,
        ),
        _markers(board == BLACK, "black", dict(color="black", **stone)),
        _markers(board == WHITE, "white", dict(color="white", **stone)),
        _markers(legal, "legal move", dict(symbol="square-open", size=30, color=BLUE, **thick)),
        _markers(last, "last move", dict(symbol="circle-open", size=34, color="red", **thick)),
        _markers(flipped, "flipped", dict(symbol="x-thin", size=10, color="red", **thin)),
        go.Scatter(
            x=_COLS.tolist(),
            y=_ROWS.tolist(),
            mode="markers",
            name="click",
            marker=dict(size=30, color="rgba(0,0,0,0)"),
            text=text,
            hoverinfo="text",
            showlegend=False,
        ),
    ]


#: Width beside a board's squares: its colour bar and legend (legend=False: the bar only).
BESIDE, BESIDE_NO_LEGEND = 170, 80


def _board_layout(fig: go.Figure, title: str | None, size: int, legend: bool = True) -> go.Figure:
    fig.update_layout(
        title=title,
        width=size + (BESIDE if legend else BESIDE_NO_LEGEND),
        height=size,
        showlegend=legend,
        plot_bgcolor=GRID_GREEN,
        margin=dict(l=30, r=10, t=40 if title else 10, b=10),
        legend=dict(x=1.02, y=0.0, yanchor="bottom", font=dict(size=11)),
        clickmode="event",
    )
    fig.update_xaxes(
        tickvals=list(range(8)),
        ticktext=list(COLUMNS),
        side="top",
        range=[-0.5, 7.5],
        showgrid=False,
        zeroline=False,
        fixedrange=True,
    )
    fig.update_yaxes(
        tickvals=list(range(8)),
        ticktext=[str(r + 1) for r in range(8)],
        range=[7.5, -0.5],
        showgrid=False,
        zeroline=False,
        scaleanchor="x",
        fixedrange=True,
    )
    return fit_title(fig)


def board_figure(
    board: Int[np.ndarray, " 64"],
    *,
    title: str | None = None,
    size: int = 420,
    legend: bool = True,
    **traces,
) -> go.Figure:
    """One board, ``size`` px high and ``size + 170`` wide (``+ 80`` with ``legend=False``).

    Other keyword arguments go to ``board_traces`` (values, legal, last_move, ...).
    """
    return _board_layout(go.Figure(board_traces(board, **traces)), title, size, legend)


def game_figure(
    record: GameRecord,
    game: int = 0,
    *,
    probs: Float[np.ndarray, "state 64"] | None = None,
    title: str | None = None,
    size: int = 420,
    **value_style,
) -> go.Figure:
    """A whole game with a slider over its states; runs in the browser with no kernel.

    ``probs[t]`` (optional) is a per-square value shown at state ``t``, e.g. the model's
    next-move probabilities after reading moves ``0..t-1``; ``value_style`` (value_label,
    zmin, zmax, colorscale) goes to ``board_traces``.
    """
    boards = record.boards()[game]
    legal, flipped = record.legal_mask()[game], record.flipped_mask()[game]
    n_states = int(record.lengths[game]) + 1

    def traces(t: int):
        last = int(record.moves[game, t - 1]) if t > 0 else None
        known = probs is not None and t < len(probs) and not np.isnan(probs[t]).all()
        values = probs[t] if known else None  # e.g. past the model's 59 positions
        return board_traces(
            boards[t],
            values=values,
            legal=legal[t],
            last_move=last,
            flipped=flipped[t],
            **value_style,
        )

    return board_slider_figure(
        [traces(t) for t in range(n_states)],
        [str(t) for t in range(n_states)],
        prefix="moves played: ",
        title=title,
        size=size,
    )


def board_slider_figure(
    steps: list[list[go.BaseTraceType]],
    labels: list[str],
    *,
    prefix: str = "",
    titles: list[str] | None = None,
    title: str | None = None,
    size: int = 420,
) -> go.Figure:
    """Boards (each a ``board_traces`` list) behind a slider, as plotly frames.

    Everything runs in the browser: the figure needs no kernel. ``titles`` (optional)
    gives each step its own title, e.g. a one-line summary of that step.
    """
    if len(steps) != len(labels) or (titles is not None and len(titles) != len(steps)):
        raise ValueError(
            f"one label (and title, if given) per step: {len(steps)} steps, "
            f"{len(labels)} labels, {None if titles is None else len(titles)} titles"
        )

    def frame(i: int) -> go.Frame:
        layout = None if titles is None else dict(title=dict(text=titles[i]))
        return go.Frame(data=steps[i], name=labels[i], layout=layout)

    fig = go.Figure(steps[0], frames=[frame(i) for i in range(len(steps))])
    animate = dict(
        mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0)
    )
    slider = dict(
        steps=[dict(method="animate", label=lab, args=[[lab], animate]) for lab in labels],
        currentvalue=dict(prefix=prefix),
        pad=dict(t=30),
    )
    fig.update_layout(sliders=[slider])
    _board_layout(fig, titles[0] if titles else title, size)
    fig.update_layout(height=size + 90)
    return fig


def flip_scan_figure(
    scan,
    board: Int[np.ndarray, " 64"],
    player: int,
    *,
    size: int = 420,
) -> go.Figure:
    """Each single-stone flip of a ``FlipScan`` behind a slider (step 0: no edit).

    ``board`` is the real board (black/white) at the scanned position and ``player`` the
    colour to move. Each step shows the edited board, its true legal moves (outlines), the
    flipped stone (ring) and the edited model's next-move probabilities (heatmap).
    """
    other = BLACK + WHITE - player
    steps = [board_traces(board, values=scan.probs_before, legal=scan.legal_before)]
    labels, titles = ["none"], ["No edit: the model as it is, real legal moves"]
    for i, (square, to_class) in enumerate(zip(scan.squares, scan.to_class, strict=True)):
        edited = np.array(board).copy()
        edited[square] = player if to_class == MINE else other
        steps.append(
            board_traces(
                edited, values=scan.probs_after[i], legal=scan.legal_after[i], last_move=square
            )
        )
        labels.append(SQUARE_NAMES[square])
        titles.append(
            f"{SQUARE_NAMES[square]} → {'mine' if to_class == MINE else 'theirs'}: "
            f"top-N errors {scan.errors_before[i]} before, {scan.errors_after[i]} after the edit"
        )
    return board_slider_figure(steps, labels, prefix="flipped stone: ", titles=titles, size=size)


def learning_curve_figure(
    records: list[dict], *, x: str = "wall_s", y: str = "eval_top1_legal", name: str = "run"
) -> go.Figure:
    """Metric ``y`` against ``x`` from a run's ``metrics.jsonl`` records."""
    fig = go.Figure(
        go.Scatter(
            x=[r[x] for r in records], y=[r[y] for r in records], mode="lines+markers", name=name
        )
    )
    fig.update_layout(xaxis_title=x, yaxis_title=y, height=350)
    return fig


def probe_accuracy_figure(
    curves: dict[str, list[float]],
    *,
    dashed: dict[str, list[float]] | None = None,
    sites: list[str] | None = None,
    title: str = "Probe accuracy by layer",
) -> go.Figure:
    """Mean probe accuracy per residual site: solid lines, and dashed baselines."""
    fig = go.Figure()
    for name, values in curves.items():
        fig.add_scatter(y=values, x=sites, mode="lines+markers", name=name)
    for name, values in (dashed or {}).items():
        fig.add_scatter(y=values, x=sites, mode="lines", name=name, line=dict(dash="dash"))
    fig.update_layout(
        title=title,
        xaxis_title="residual stream site",
        yaxis_title="accuracy",
        height=400,
        yaxis_range=[0, 1.01],
    )
    return fit_title(fig)


def line_figure(
    y: list[float],
    *,
    x: list | None = None,
    title: str = "",
    xaxis: str = "",
    yaxis: str = "",
    name: str | None = None,
) -> go.Figure:
    """A single line; add more with ``fig.add_scatter``."""
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers", name=name))
    fig.update_layout(title=title, xaxis_title=xaxis, yaxis_title=yaxis, height=350)
    return fit_title(fig)


def heatmap_figure(
    values: Float[np.ndarray, "row col"],
    *,
    rows: list[str],
    cols: list[str],
    title: str | None = None,
    value_label: str = "value",
    height: int | None = None,
) -> go.Figure:
    """A labelled heat map on a diverging scale centred at zero (e.g. a patching sweep)."""
    values = np.asarray(values, dtype=float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=cols,
            y=rows,
            zmid=0,
            zmin=-limit,
            zmax=limit,
            colorscale="RdBu",
            colorbar=dict(title=value_label),
            hovertemplate="%{y} @ %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return fit_title(
        fig.update_layout(title=title, height=height or max(300, 18 * len(rows) + 120))
    )


def bar_figure(
    labels: list[str], values: list[float], *, title: str | None = None, value_label: str = ""
) -> go.Figure:
    """Signed horizontal bars, largest magnitude on top (e.g. the top attributions)."""
    order = np.argsort(-np.abs(np.asarray(values)))[::-1]
    colours = ["#c62828" if values[i] < 0 else "#1565c0" for i in order]
    fig = go.Figure(
        go.Bar(
            x=[values[i] for i in order],
            y=[labels[i] for i in order],
            orientation="h",
            marker_color=colours,
        )
    )
    return fit_title(
        fig.update_layout(
            title=title, xaxis_title=value_label, height=max(280, 22 * len(labels) + 120)
        )
    )
