"""A non-editable install works outside the clone once ``WORKBENCH_DATA`` points at the
clone's data folder: the default model, its probe suite and an SAE load (``workbench.paths``).

The package is built from a copy of ``pyproject.toml``, ``README.md`` and ``src/`` and
installed with ``pip install --no-deps --no-build-isolation --target`` (offline: the
dependencies are the test's own environment's), then imported in a fresh interpreter whose
working directory is outside the clone.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

from workbench.paths import CLONE_ROOT

LOADS = textwrap.dedent(
    """
    import json, sys
    import workbench
    from workbench.paths import DataDirError
    from workbench.probes.suite import load_probes

    out = {"package": workbench.__file__}
    try:
        workbench.load_model("othello")
    except DataDirError as err:
        out["without"] = str(err)
    if len(sys.argv) > 1:
        import os
        os.environ["WORKBENCH_DATA"] = sys.argv[1]  # read at call time, not on import
        model = workbench.load_model("othello")
        probes = load_probes("othello")
        sae = workbench.load_sae("othello", "blocks.4.hook_resid_post", "topk")
        out["model"] = model.cfg.model_name
        out["probes"] = len(probes.probes)
        out["sae"] = sae.cfg.d_sae
    print(json.dumps(out))
    """
)


def test_a_non_editable_install_loads_from_workbench_data(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CLONE_ROOT / name, source / name)
    shutil.copytree(CLONE_ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.pyc"))
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--no-index", "--target", str(target), str(source)], check=True)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_DATA", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)  # before the editable install's path entry
    result = subprocess.run(
        [sys.executable, "-c", LOADS, str(CLONE_ROOT / "data")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    out = json.loads(result.stdout.splitlines()[-1])
    assert out["package"].startswith(str(target))  # the installed copy, not the clone
    assert "export WORKBENCH_DATA=" in out["without"]  # before the variable: a clear error
    assert out["model"] == "othello-gpt-cpu-6l"
    assert out["probes"] > 0
    assert out["sae"] == 2048
