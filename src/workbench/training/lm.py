"""Train a small language model on the registry corpus: resumable, logged, checkpointed.

The run loop, checkpoints, resumption and best-model keeping are ``Trainer``'s; this module
supplies the task:

1. The corpus (``workbench.text.corpus``) is tokenized with the run's BPE tokenizer, trained
   on the corpus at the first start and saved in the run folder (and in every saved model).
2. The token stream is cut into blocks of 4,096 tokens; every 20th block is held out.
3. Each step draws ``batch_size`` windows of ``n_ctx - 1`` training tokens after a BOS,
   seeded by (seed, step) so a resumed run sees the same batches; a fraction
   ``repeat_fraction`` of the rows instead repeat one segment (random tokens or a stretch
   of text, half each) with a random period of 8 to 64 tokens, which makes induction heads
   form early (the card records the mixture). With 10% such rows and 65M tokens, no
   induction head had formed: the plateau before the phase change was still going on.
4. Next-token cross-entropy. Evaluation: held-out loss (decides the best model) and the
   repeated-random-tokens induction test.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer

from workbench.models.io import save_model
from workbench.models.lm import LMConfig
from workbench.provenance import hardware
from workbench.text.corpus import DEFAULT_CORPUS, load_corpus
from workbench.text.induction import induction_test
from workbench.text.tokenizer import (
    TOKENIZER_CONFIG,
    TOKENIZER_FILE,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)
from workbench.text.windows import corpus_streams, next_token_loss, text_windows, windows
from workbench.text.windows import split_stream as split_stream  # importable here, as before
from workbench.training.train import Trainer


@dataclass
class LMTrainConfig:
    model: LMConfig = field(default_factory=LMConfig)
    out_dir: str = "runs/lm"
    corpus: str = DEFAULT_CORPUS  # load_corpus name
    batch_size: int = 32  # sequences per step, each n_ctx tokens
    repeat_fraction: float = 0.3  # rows of a repeated segment instead of running text
    max_steps: int = 20_000
    max_minutes: float | None = None  # stop (resumably) after this much wall time
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 200
    weight_decay: float = 0.01  # rare tokens' embeddings decay away under a stronger one
    grad_clip: float = 1.0
    precision: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False
    threads: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    save_dtype: Literal["float32", "float16"] = "float16"
    eval_every: int = 250
    eval_sequences: int = 256  # held-out windows scored at each evaluation
    checkpoint_every: int = 250
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self) | {"model": self.model.to_dict()}

    @property
    def save_dtype_torch(self) -> torch.dtype:
        return getattr(torch, self.save_dtype)

    @classmethod
    def from_dict(cls, data: dict) -> LMTrainConfig:
        return cls(**(dict(data) | {"model": LMConfig.from_dict(data["model"])}))


@dataclass
class TokenBatch:
    tokens: torch.Tensor  # batch pos

    def to(self, device: str, non_blocking: bool = False) -> TokenBatch:
        return TokenBatch(self.tokens.to(device, non_blocking=non_blocking))


class LMTrainer(Trainer):
    headline = "val_loss"

    def build_model(self):
        self.tokenizer = self._tokenizer()
        self.train_tokens, self.val_tokens = corpus_streams(self.cfg.corpus, self.tokenizer)
        return self.cfg.model.build(
            seed=self.cfg.seed, device=self.device, tokenizer=load_tokenizer(self.out)
        )

    def _tokenizer(self) -> Tokenizer:
        """The run's tokenizer: trained on the corpus at the first start, then reloaded."""
        path = self.out / TOKENIZER_FILE
        if not path.exists():
            texts = (d.text for d in load_corpus(self.cfg.corpus).documents)
            save_tokenizer(train_tokenizer(texts, vocab_size=self.cfg.model.d_vocab), self.out)
        tok = Tokenizer.from_file(str(path))
        if tok.get_vocab_size() != self.cfg.model.d_vocab:
            raise ValueError(
                f"{path} has {tok.get_vocab_size()} tokens but the model's d_vocab is "
                f"{self.cfg.model.d_vocab}."
            )
        return tok

    def setup_evaluation(self) -> None:
        gen = torch.Generator().manual_seed(self.cfg.seed + 10_000)
        self.eval_batch = windows(
            self.val_tokens, self.cfg.eval_sequences, self.cfg.model.n_ctx, gen
        )

    def evaluate_metrics(self) -> dict:
        losses = []
        for chunk in self.eval_batch.split(64):
            losses.append(next_token_loss(self.model(chunk.to(self.device)), chunk.to(self.device)))
        induction = induction_test(self.model, half_len=min(50, (self.cfg.model.n_ctx - 1) // 2))
        return {"val_loss": torch.stack(losses).mean().item()} | {
            k: v for k, v in induction.to_dict().items() if k != "top_induction_heads"
        }

    def score(self, metrics: dict) -> float:
        return -metrics["val_loss"]

    def progress(self) -> dict:
        return {"tokens_seen": self.state.step * self.tokens_per_step}

    @property
    def tokens_per_step(self) -> int:
        return self.cfg.batch_size * self.cfg.model.n_ctx

    def loss(self, batch: TokenBatch) -> torch.Tensor:
        return next_token_loss(self.forward(batch.tokens), batch.tokens)

    def _batches(self):
        for step in range(self.state.step, self.cfg.max_steps):
            yield make_lm_batch(self.train_tokens, self.cfg, step)

    def save_best(self, card: dict) -> None:
        folder = self.out / "best"
        save_model(self.model, self.cfg.model, folder, card=card, dtype=self.cfg.save_dtype_torch)
        save_tokenizer(self.tokenizer, folder)

    def card(self, metrics: dict) -> dict:
        return {
            "architecture": self.cfg.model.to_dict(),
            "n_params": sum(p.numel() for p in self.model.parameters()),
            "step": self.state.step,
            "tokens_seen": self.state.step * self.tokens_per_step,
            "train_tokens": len(self.train_tokens),
            "val_tokens": len(self.val_tokens),
            "wall_time_s": round(self.state.elapsed_s, 1),
            "hardware": hardware(self.device),
            "train_config": self.cfg.to_dict(),
            "eval_during_training": metrics,
        }


def make_lm_batch(stream: torch.Tensor, cfg: LMTrainConfig, step: int) -> TokenBatch:
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    n_ctx, vocab = cfg.model.n_ctx, cfg.model.d_vocab
    tokens = windows(stream, cfg.batch_size, n_ctx, gen)
    repeated = torch.rand(cfg.batch_size, generator=gen) < cfg.repeat_fraction
    for row in repeated.nonzero()[:, 0].tolist():
        period = int(torch.randint(8, 65, (1,), generator=gen))
        if torch.rand(1, generator=gen) < 0.5:  # random tokens
            segment = torch.randint(1, vocab, (period,), generator=gen)
        else:  # a stretch of text
            start = int(torch.randint(0, len(stream) - period, (1,), generator=gen))
            segment = stream[start : start + period]
        tokens[row, 1:] = segment.repeat(n_ctx // period + 1)[: n_ctx - 1]
    return TokenBatch(tokens)


def held_out_loss(
    model, corpus: str = DEFAULT_CORPUS, *, n_sequences: int = 1024, seed: int = 10_000
) -> float:
    """Mean next-token loss on ``n_sequences`` random held-out windows of the corpus."""
    batch = text_windows(model, n_sequences, seq_len=model.cfg.n_ctx, seed=seed, corpus=corpus)
    with torch.no_grad():
        losses = [next_token_loss(model(chunk), chunk) for chunk in batch.split(32)]
    return torch.stack(losses).mean().item()


def ship_lm(
    run_dir: str | Path,
    name: str,
    *,
    train_command: str,
    models_dir: Path | None = None,
    overwrite: bool = False,
) -> dict:
    """Evaluate a run's best model on the CPU, as shipped (fp16 weights), and save it with
    its card as a shipped model (``name``: a plain folder name; as ``ship``)."""
    from workbench.models.io import (
        load_model_folder,
        read_card,
        read_config,
        round_through,
        shown_path,
    )
    from workbench.outputs import check_output_dir, output_dir, plain_name
    from workbench.text.induction import ablation_effects
    from workbench.training.ship import older_model_folder

    plain_name(name, what="--name")
    from workbench.paths import models_dir as shipped_models_dir

    folder = Path(models_dir or shipped_models_dir()) / name
    check_output_dir(folder, overwrite=overwrite, recognise=older_model_folder)
    run = Path(run_dir)
    model = round_through(load_model_folder(run / "best"), torch.float16)
    card = read_card(run / "best")
    corpus = card["train_config"].get("corpus", DEFAULT_CORPUS)  # any trainer's config
    induction = induction_test(model, half_len=50, n_seqs=64, seed=1)
    ablation = ablation_effects(model, half_len=50, n_seqs=32, seed=1)
    top = divmod(int(ablation.argmax()), model.cfg.n_heads)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    keys = ("step", "tokens_seen", "wall_s", "loss", "eval_val_loss", "eval_loss_drop")
    ship_argv = ["workbench", "ship-lm", shown_path(run), "--name", name,
                 "--train-command", train_command]  # fmt: skip
    card |= {
        "name": name,
        "corpus": corpus,
        "evaluation": {
            "held_out_loss": round(held_out_loss(model, corpus), 4),
            "induction": induction.to_dict(),
            "largest_ablation_effect": {
                "head": f"L{top[0]}H{top[1]}",
                "nats": ablation.max().item(),
            },
        },
        "evaluation_command": f"workbench lm-eval --path {shown_path(folder)}",
        "train_command": train_command,
        "ship_command": shlex.join(ship_argv),
        "learning_curve": [{k: r[k] for k in keys if k in r} for r in records],
    }
    where = output_dir(
        folder, writer="workbench ship-lm", overwrite=overwrite, recognise=older_model_folder
    )
    with where as tmp:
        save_model(model, read_config(run / "best"), tmp, card=card, dtype=torch.float16)
        for file in (TOKENIZER_FILE, TOKENIZER_CONFIG):
            shutil.copyfile(run / "best" / file, tmp / file)
    return card


def train_lm(cfg: LMTrainConfig) -> Path:
    """Train (or resume) the run in ``cfg.out_dir``; returns the best model's folder."""
    LMTrainer(cfg).run()
    return Path(cfg.out_dir) / "best"
