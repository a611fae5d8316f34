"""Command-line flags generated from a training config dataclass."""

from __future__ import annotations

import argparse
from dataclasses import fields


def overrides(args: argparse.Namespace, config_class) -> dict:
    return {
        f.name: getattr(args, f.name)
        for f in fields(config_class)
        if f.name != "model" and getattr(args, f.name, None) is not None
    }


def config_arguments(p: argparse.ArgumentParser, config_class) -> None:
    """One optional flag per field of a training config (None: keep the default)."""
    none_default_types = {"max_minutes": float, "threads": int}
    for f in fields(config_class):
        if f.name in ("model", "out_dir"):
            continue
        if f.name == "compile":
            p.add_argument("--compile", action="store_true", default=None)
            continue
        kind = none_default_types.get(f.name, type(f.default))
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind)
