"""Train an OthelloGPT on fresh synthetic games: resumable, logged, checkpointed atomically.

1. Each step draws ``batch_games`` new random games, seeded by (seed, step), so a resumed
   run sees exactly the batches an uninterrupted one would.
2. The loss is the cross-entropy against the exact next-move distribution (uniform over
   the legal moves), which removes the noise of the one sampled move.
3. AdamW, linear warm-up then cosine decay; gradient clipping.
4. Every ``eval_every`` steps: legal-move metrics on held-out games, written to
   ``metrics.jsonl``; the best model so far is saved to ``best/`` (a loadable model folder).
5. Every ``checkpoint_every`` steps (and on stop): weights, optimiser and progress to a new
   ``ckpt-<step>/`` folder, then ``latest.json`` is atomically pointed at it.
6. It stops at ``max_steps``, after ``max_minutes``, or on SIGINT / SIGTERM (Ctrl-C, ``kill``,
   a notebook's interrupt): the step under way is finished, evaluated and checkpointed, so
   nothing is lost; a second signal acts as it would have without the run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from tqdm.auto import tqdm

from workbench.checkpoints import CheckpointFolder, keep_records_until
from workbench.evaluation import evaluate_legal_moves, held_out_games
from workbench.models.config import OthelloGPTConfig
from workbench.models.io import (
    atomic_write,
    load_model_folder,
    load_state_dict,
    read_card,
    read_config,
    save_model,
    write_json,
)
from workbench.provenance import hardware
from workbench.signals import StopSignals
from workbench.training.data import Batch, make_batch


@dataclass
class TrainConfig:
    model: OthelloGPTConfig = field(default_factory=OthelloGPTConfig)
    out_dir: str = "runs/othello"  # checkpoints, metrics.jsonl, best/ model folder
    batch_games: int = 128  # games per step; each gives 59 positions
    max_steps: int = 30_000  # length of the LR schedule; training stops here
    max_minutes: float | None = None  # stop (resumably) after this much wall time
    lr: float = 1e-3  # peak learning rate
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 300
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    target: Literal["exact", "sampled"] = "exact"  # next-move distribution or sampled move
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 autocast for the forward pass
    compile: bool = False  # torch.compile the model
    threads: int | None = None  # torch CPU threads; None keeps torch's default
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when available
    save_dtype: Literal["float32", "float16"] = "float32"  # dtype of the best/ model
    data_workers: int = 0  # processes generating games ahead of the GPU (0: in-line)
    eval_every: int = 500
    eval_games: int = 1000  # held-out games scored at each evaluation
    checkpoint_every: int = 500
    seed: int = 0
    # A saved model folder whose weights start the run (continued training with a fresh
    # optimiser and schedule); None: random initialisation. Give a new seed, or the run
    # replays the games the start model was trained on.
    init_from: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def save_dtype_torch(self) -> torch.dtype:
        return getattr(torch, self.save_dtype)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        data = dict(data)
        data["model"] = OthelloGPTConfig.from_dict(data["model"])
        return cls(**data)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


def loss_fn(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Cross-entropy against the target distribution, averaged over positions with a move."""
    log_probs = logits.float().log_softmax(dim=-1)
    per_position = -(batch.targets * log_probs).sum(dim=-1)
    return per_position[batch.mask].mean()


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for, but no CUDA device is available.")
    return device


@dataclass
class TrainState:
    step: int = 0
    elapsed_s: float = 0.0  # wall time across all resumes
    best_score: float = -math.inf  # of the best model so far (Trainer.score: higher is better)
    best_step: int = -1

    @classmethod
    def from_dict(cls, data: dict) -> TrainState:
        data = dict(data)
        if "best_top1" in data:  # checkpoints written before the score was generalised
            data["best_score"] = data.pop("best_top1")
        return cls(**data)


class Trainer:
    """Owns the model, optimiser and run folder; ``run()`` trains until a stop condition.

    This class trains OthelloGPTs; a subclass for another task overrides ``_batches``,
    ``loss``, ``evaluate_metrics``, ``score``, ``tokens_per_step`` and ``card``.
    """

    headline = "top1_legal"  # the metric shown on the progress bar
    interrupted = False  # whether SIGINT / SIGTERM stopped the last run()

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.device = resolve_device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if self.device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls on the GPU
        self.checkpoints = CheckpointFolder(
            self.out,
            cfg.to_dict(),
            settings_file="train_config.json",
            may_change=_RESUMABLE_CHANGES,
            paths={"init_from"},
            checkpoint_glob="ckpt-*",
            start_again="choose a new out_dir",
        )
        self.checkpoints.claim()
        self.model = self.build_model()
        self.model.train()
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2 and "W_" in n]
        no_decay = [p for n, p in self.model.named_parameters() if not (p.ndim >= 2 and "W_" in n)]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=cfg.lr,
            betas=(0.9, 0.98),
        )
        self.state = TrainState()
        self._resume()
        self.forward = torch.compile(self.model) if cfg.compile else self.model
        self.setup_evaluation()

    # -- the task (overridden by subclasses) ------------------------------------------
    def build_model(self):
        if self.cfg.init_from is None:
            return self.cfg.model.build(seed=self.cfg.seed, device=self.device)
        return self._start_model(Path(self.cfg.init_from)).to(self.device)

    def _start_model(self, folder: Path):
        saved = read_config(folder)
        if saved != self.cfg.model:
            raise ValueError(
                f"init_from={str(folder)!r} holds the architecture {saved}, but the run trains "
                f"{self.cfg.model}: choose the preset that matches it."
            )
        record = self.out / "init_from.json"  # what the start model was, read once: the
        if not record.exists():  # folder may be replaced (shipped over) before a resume
            card = read_card(folder)
            keep = ("name", "step", "games_seen", "train_config")
            write_json(record, {"folder": str(folder), **{k: card.get(k) for k in keep}})
        self.start_record = json.loads(record.read_text())  # for the cards
        return load_model_folder(folder)

    def setup_evaluation(self) -> None:
        self.eval_games = held_out_games(self.cfg.eval_games, seed=self.cfg.seed + 10_000)

    def evaluate_metrics(self) -> dict:
        return evaluate_legal_moves(self.model, self.eval_games).to_dict()

    def score(self, metrics: dict) -> float:
        """Higher is better: decides which model is kept as ``best/``."""
        return metrics["top1_legal"]

    @property
    def tokens_per_step(self) -> int:
        return self.cfg.batch_games * 59

    def progress(self) -> dict:
        """How much data the run has seen, for the metrics log."""
        return {"games_seen": self.state.step * self.cfg.batch_games}

    def loss(self, batch: Batch) -> torch.Tensor:
        return loss_fn(self.forward(batch.tokens), batch)

    def save_best(self, card: dict) -> None:
        save_model(
            self.model,
            self.cfg.model,
            self.out / "best",
            card=card,
            dtype=self.cfg.save_dtype_torch,
            max_shard_bytes=15 * 2**20,
        )

    # -- run folder -------------------------------------------------------------------
    def _resume(self) -> None:
        """Load the newest checkpoint that reads (an older one if the newest is corrupt) and
        drop the metrics logged after it, which the resumed run logs again."""

        def load(folder: Path, state: dict) -> None:
            TrainState.from_dict(state)
            weights = load_state_dict(folder / "model.safetensors")
            opt_state = torch.load(
                folder / "optimizer.pt", map_location=self.device, weights_only=True
            )
            self.model.load_state_dict(weights, strict=False)
            self.optimizer.load_state_dict(opt_state)

        found = self.checkpoints.latest(load=load)
        if found is not None:
            self.state = TrainState.from_dict(found[1])
        keep_records_until(self.out / "metrics.jsonl", self.state.step)

    def save_checkpoint(self) -> None:
        folder = self.out / f"ckpt-{self.state.step:07d}"
        save_model(self.model, self.cfg.model, folder)
        atomic_write(
            folder / "optimizer.pt",
            lambda p: torch.save(self.optimizer.state_dict(), p),
        )
        self.checkpoints.commit(folder, asdict(self.state))

    def log(self, record: dict) -> None:
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- training ---------------------------------------------------------------------
    def evaluate(self) -> dict:
        self.model.eval()
        with torch.no_grad():
            metrics = self.evaluate_metrics()
        self.model.train()
        if self.score(metrics) > self.state.best_score:
            self.state.best_score, self.state.best_step = self.score(metrics), self.state.step
            self.save_best(self.card(metrics))
        return metrics

    def card(self, metrics: dict) -> dict:
        games = self.state.step * self.cfg.batch_games
        start = {}
        if self.cfg.init_from is not None:  # the start model's games count too
            start = {"init_from": self.start_record}
            games += self.start_record["games_seen"] or 0
        return {
            "architecture": self.cfg.model.to_dict(),
            "n_params": sum(p.numel() for p in self.model.parameters()),
            "step": self.state.step,
            "games_seen": games,
            "tokens_seen": games * 59,
            "wall_time_s": round(self.state.elapsed_s, 1),
            "hardware": hardware(self.device),
            "train_config": self.cfg.to_dict(),
            "eval_during_training": metrics,
            **start,
        }

    def _batches(self):
        """Batches for steps ``state.step`` onwards, in order, prefetched by worker processes."""
        steps = range(self.state.step, self.cfg.max_steps)
        dataset = _StepBatches(self.cfg.batch_games, self.cfg.seed, self.cfg.target)
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=None,
            sampler=steps,
            num_workers=self.cfg.data_workers,
            collate_fn=lambda b: b,
            pin_memory=self.device == "cuda",
            prefetch_factor=4 if self.cfg.data_workers else None,
            persistent_workers=False,
        )

    def train_step(self, batch: Batch) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.state.step, self.cfg)
        autocast = torch.autocast(
            device_type=self.device,
            dtype=torch.bfloat16,
            enabled=self.cfg.precision == "bf16",
        )
        with autocast:
            loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        return loss.item()

    def run(self) -> TrainState:
        """Train until a stop condition; ``interrupted`` then says whether a signal stopped it.
        The run folder's lock is held until it returns."""
        self.checkpoints.lock()
        try:
            bar = tqdm(
                total=self.cfg.max_steps, initial=self.state.step, desc="train", smoothing=0.05
            )
            batches = iter(self._batches())
            with StopSignals() as signals:
                self._loop(bar, batches, signals)
            bar.close()
            self.interrupted = signals.requested
        finally:
            self.checkpoints.release()
        return self.state

    def _loop(self, bar: tqdm, batches: Iterator[Batch], signals: StopSignals) -> None:
        cfg = self.cfg
        start_wall, start_elapsed = time.perf_counter(), self.state.elapsed_s
        window_t, window_steps, loss = time.perf_counter(), 0, float("nan")
        while self.state.step < cfg.max_steps:
            batch = next(batches)
            loss = self.train_step(batch.to(self.device, non_blocking=True))
            self.state.step += 1
            window_steps += 1
            self.state.elapsed_s = start_elapsed + time.perf_counter() - start_wall
            bar.update(1)
            done = self.state.step >= cfg.max_steps
            stop = signals.requested or (
                cfg.max_minutes is not None
                and time.perf_counter() - start_wall > 60 * cfg.max_minutes
            )
            if self.state.step % cfg.eval_every == 0 or done or stop:
                dt = time.perf_counter() - window_t
                record = {
                    "step": self.state.step,
                    **self.progress(),
                    "wall_s": round(self.state.elapsed_s, 1),
                    "loss": loss,
                    "lr": lr_at(self.state.step, cfg),
                    "tokens_per_s": window_steps * self.tokens_per_step / dt,
                    **{f"eval_{k}": v for k, v in self.evaluate().items()},
                }
                self.log(record)
                headline = record[f"eval_{self.headline}"]
                bar.set_postfix({"loss": f"{loss:.4f}", self.headline: f"{headline:.4f}"})
                window_t, window_steps = time.perf_counter(), 0
            if self.state.step % cfg.checkpoint_every == 0 or done or stop:
                self.save_checkpoint()
            if stop:
                break


class _StepBatches(torch.utils.data.Dataset):
    """Map-style dataset: item ``step`` is the batch of that training step."""

    def __init__(self, batch_games: int, seed: int, target: str):
        self.batch_games, self.seed, self.target = batch_games, seed, target

    def __getitem__(self, step: int) -> Batch:
        return make_batch(self.batch_games, seed=self.seed, step=step, target=self.target)


#: Settings that may change between a run and its resumption (the run is its folder,
#: wherever it is now and however its path is written).
_RESUMABLE_CHANGES = {
    "out_dir",
    "max_minutes",
    "threads",
    "eval_every",
    "checkpoint_every",
    "compile",
    "device",
    "data_workers",
    "save_dtype",
}


def train(cfg: TrainConfig) -> TrainState:
    """Train (or resume) the run in ``cfg.out_dir``."""
    return Trainer(cfg).run()
