"""Linear probes of the board: one multinomial logistic regression per square.

1. Split games (never positions) into train and test, so a game's positions never leak.
2. For each (property, site): fit ``logits[n, square, class] = x[n] @ W[:, square, class] +
   b[square, class]`` by minibatch Adam on the cross-entropy, all 64 squares at once.
3. Score per square on the held-out games; the baselines are the majority class of each
   square (from the training games) and the same probe on a randomly initialised model.
4. A ``ProbeSuite`` saves to one safetensors file plus a JSON of its scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from jaxtyping import Bool, Float, Int
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm.auto import tqdm

from workbench.activations import PROPERTIES, Activations
from workbench.files import atomic_write, read_json, write_json
from workbench.manifest import verify


@dataclass(frozen=True)
class ProbeConfig:
    steps: int = 600  # Adam steps, whatever the data size (epochs would starve small sets)
    batch_size: int = 2048  # positions per step, drawn without replacement per pass
    lr: float = 1e-2
    weight_decay: float = 1e-3  # AdamW decay on W
    test_fraction: float = 0.2  # share of games held out
    seed: int = 0
    device: str = "cpu"  # where probes are fitted ("cuda" on a GPU); they are returned on the CPU


@dataclass
class LinearProbe:
    W: Float[Tensor, "d_model 64 n_classes"]
    b: Float[Tensor, "64 n_classes"]
    property: str  # one of activations.PROPERTIES
    hook: str  # the site it reads

    @property
    def classes(self) -> tuple[str, ...]:
        return PROPERTIES[self.property]

    def logits(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... 64 n_classes"]:
        if x.shape[-1] != self.W.shape[0]:
            raise ValueError(
                f"Probe for {self.hook} expects d_model={self.W.shape[0]}, got {x.shape[-1]}."
            )
        return torch.einsum("...d,dsc->...sc", x.float(), self.W) + self.b

    def predict(self, x: Float[Tensor, "... d_model"]) -> Int[Tensor, "... 64"]:
        return self.logits(x).argmax(-1)

    def direction(self, square: int, to_class: int, from_class: int) -> Float[Tensor, " d_model"]:
        """The direction that raises ``to_class`` over ``from_class`` for one square."""
        return self.W[:, square, to_class] - self.W[:, square, from_class]


def split_games(n_games: int, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Disjoint train and test game indices."""
    order = torch.randperm(n_games, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(n_games * test_fraction)))
    return order[n_test:], order[:n_test]


def fit_probe(
    x: Float[Tensor, "n d_model"],
    y: Int[Tensor, "n 64"],
    *,
    n_classes: int,
    config: ProbeConfig = ProbeConfig(),
) -> tuple[Tensor, Tensor]:
    """Fit W (d_model, 64, n_classes) and b (64, n_classes) by minibatch AdamW."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}.")
    gen = torch.Generator().manual_seed(config.seed)
    x, y = x.to(config.device).float(), y.to(config.device)
    W = torch.zeros(x.shape[1], y.shape[1], n_classes, requires_grad=True, device=config.device)
    b = torch.zeros(y.shape[1], n_classes, requires_grad=True, device=config.device)
    opt = torch.optim.AdamW(
        [{"params": [W], "weight_decay": config.weight_decay}, {"params": [b], "weight_decay": 0}],
        lr=config.lr,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps)
    batches = _minibatches(x.shape[0], config.batch_size, gen)
    with torch.enable_grad():
        for _ in range(config.steps):
            idx = next(batches).to(config.device)
            logits = torch.einsum("nd,dsc->nsc", x[idx], W) + b
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, n_classes), y[idx].reshape(-1)
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return W.detach().cpu(), b.detach().cpu()


def _minibatches(n: int, batch_size: int, gen: torch.Generator):
    while True:
        yield from torch.randperm(n, generator=gen).split(batch_size)


def per_square_accuracy(pred: Int[Tensor, "n 64"], y: Int[Tensor, "n 64"]) -> Float[Tensor, " 64"]:
    return (pred == y).float().mean(0)


class ProbeFileError(ValueError):
    """A probe suite's ``probes.json`` or ``probes.safetensors`` is corrupt."""


@dataclass
class ProbeSuite:
    """Probes for several properties at several sites, with held-out scores."""

    probes: dict[str, LinearProbe] = field(default_factory=dict)  # key "property|hook"
    accuracy: dict[str, list[float]] = field(default_factory=dict)  # per square, test games
    majority: dict[str, list[float]] = field(default_factory=dict)  # per square, per property
    baseline: dict[str, list[float]] = field(default_factory=dict)  # random-init model probes
    test_games: list[int] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    @staticmethod
    def key(prop: str, hook: str) -> str:
        return f"{prop}|{hook}"

    def get(self, prop: str, hook: str) -> LinearProbe:
        key = self.key(prop, hook)
        if key not in self.probes:
            raise KeyError(f"No probe for {key!r}; available: {sorted(self.probes)}.")
        return self.probes[key]

    def mean_accuracy(self, prop: str, hook: str, table: str = "accuracy") -> float:
        values = getattr(self, table)[self.key(prop, hook) if table != "majority" else prop]
        return sum(values) / len(values)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        tensors = {}
        for key, probe in self.probes.items():
            tensors[f"{key}|W"], tensors[f"{key}|b"] = probe.W.contiguous(), probe.b.contiguous()
        atomic_write(folder / "probes.safetensors", lambda p: save_file(tensors, str(p)))
        meta = {k: v for k, v in asdict(self).items() if k != "probes"}
        write_json(folder / "probes.json", meta)

    @classmethod
    def load(cls, folder: str | Path) -> ProbeSuite:
        folder = Path(folder)
        if not (folder / "probes.json").exists():
            raise FileNotFoundError(f"No probes.json in {folder}.")
        meta = read_json(folder / "probes.json", error=ProbeFileError, what="Probe suite record")
        weights = folder / "probes.safetensors"
        verify(weights)
        try:
            tensors = load_file(str(weights))
        except (SafetensorError, OSError) as err:
            message = f"Could not read probes from {weights} (corrupted?): {err}"
            raise ProbeFileError(message) from err
        probes = {}
        for name in tensors:
            prop, hook, part = (name.split("|") + ["", ""])[:3]
            if part not in ("W", "b") or f"{prop}|{hook}|b" not in tensors:
                raise ProbeFileError(f"{weights} holds {name!r}, not a 'property|hook|W/b' pair.")
            if part == "W":
                probes[f"{prop}|{hook}"] = LinearProbe(
                    tensors[name], tensors[f"{prop}|{hook}|b"], prop, hook
                )
        valid = {f.name for f in fields(cls)} - {"probes"}
        if set(meta) - valid:
            raise ProbeFileError(
                f"Probe suite record {folder / 'probes.json'} has unknown keys "
                f"{sorted(set(meta) - valid)}; valid: {sorted(valid)}."
            )
        return cls(probes=probes, **meta)


def _select(acts: Activations, games: Tensor, hook: str, prop: str):
    mask: Bool[Tensor, "g pos"] = acts.labels.valid[games]
    x = acts.acts[hook][games][mask]
    y = acts.labels.property(prop)[games][mask]
    return x, y


def train_probes(
    acts: Activations,
    *,
    properties: list[str] | None = None,
    hooks: list[str] | None = None,
    config: ProbeConfig = ProbeConfig(),
    baseline_acts: Activations | None = None,
    progress: bool = True,
) -> ProbeSuite:
    """Train and score probes for every (property, hook); optionally a random-init baseline."""
    properties = properties or list(PROPERTIES)
    hooks = hooks or list(acts.acts)
    n_games = acts.labels.valid.shape[0]
    train, test = split_games(n_games, config.test_fraction, config.seed)
    suite = ProbeSuite(test_games=test.tolist(), config=asdict(config))
    jobs = [(p, h) for p in properties for h in hooks]
    for prop, hook in tqdm(jobs, desc="probes", disable=not progress):
        n_classes = len(PROPERTIES[prop])
        x, y = _select(acts, train, hook, prop)
        W, b = fit_probe(x, y, n_classes=n_classes, config=config)
        probe = LinearProbe(W, b, prop, hook)
        x_test, y_test = _select(acts, test, hook, prop)
        key = suite.key(prop, hook)
        suite.probes[key] = probe
        suite.accuracy[key] = per_square_accuracy(probe.predict(x_test), y_test).tolist()
        if prop not in suite.majority:
            majority = torch.mode(y, dim=0).values
            suite.majority[prop] = per_square_accuracy(majority.expand_as(y_test), y_test).tolist()
        if baseline_acts is not None:
            xb, yb = _select(baseline_acts, train, hook, prop)
            Wb, bb = fit_probe(xb, yb, n_classes=n_classes, config=config)
            xb_test, yb_test = _select(baseline_acts, test, hook, prop)
            pred = LinearProbe(Wb, bb, prop, hook).predict(xb_test)
            suite.baseline[key] = per_square_accuracy(pred, yb_test).tolist()
    return suite


@dataclass
class ErrorBreakdown:
    """Probe accuracy split by when things happened, on the given games' valid positions."""

    by_move: list[float]  # accuracy at move number 1..59
    by_age: list[float]  # accuracy by moves since the square last changed (0..MAX_AGE)
    count_by_age: list[int]
    by_square: list[float]


MAX_AGE = 30


def moves_since_change(board: Int[Tensor, "game pos 64"]) -> Int[Tensor, "game pos 64"]:
    """For every square, positions since its (absolute) state last changed (placed/flipped)."""
    changed = torch.ones_like(board, dtype=torch.bool)
    changed[:, 1:] = board[:, 1:] != board[:, :-1]
    age = torch.zeros_like(board)
    for p in range(1, board.shape[1]):
        age[:, p] = torch.where(changed[:, p], 0, age[:, p - 1] + 1)
    return age


def error_breakdown(
    probe: LinearProbe, acts: Activations, games: Tensor | None = None
) -> ErrorBreakdown:
    """Where does ``probe`` fail? Empty squares are left out of the by-age split."""
    games = torch.arange(acts.labels.valid.shape[0]) if games is None else games
    x = acts.acts[probe.hook][games]
    y = acts.labels.property(probe.property)[games]
    valid = acts.labels.valid[games]
    correct = (probe.predict(x) == y).float()
    by_move = [(correct[:, p][valid[:, p]].mean().item()) for p in range(valid.shape[1])]
    age = moves_since_change(acts.labels.absolute[games]).clamp(max=MAX_AGE)
    occupied = (acts.labels.absolute[games] != 0) & valid[..., None]
    by_age, counts = [], []
    for a in range(MAX_AGE + 1):
        sel = occupied & (age == a)
        counts.append(int(sel.sum()))
        by_age.append(correct[sel].mean().item() if sel.any() else float("nan"))
    by_square = (correct * valid[..., None]).sum((0, 1)) / valid.sum()
    return ErrorBreakdown(by_move, by_age, counts, by_square.tolist())
