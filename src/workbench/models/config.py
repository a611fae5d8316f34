"""Architecture of an OthelloGPT, as a small dataclass that maps onto TransformerLens."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from workbench.othello.tokens import D_VOCAB, N_CTX

if TYPE_CHECKING:  # imported where a model is built: seconds, not at import
    from transformer_lens import HookedTransformer, HookedTransformerConfig


@dataclass(frozen=True)
class OthelloGPTConfig:
    """A GPT-2-style decoder over the 61 Othello tokens. Defaults: the shipped default."""

    n_layers: int = 6  # the published model has 8
    d_model: int = 256  # residual stream width (published: 512)
    n_heads: int = 8  # attention heads per layer
    d_mlp: int = 1024  # MLP hidden width, 4 * d_model as in GPT-2
    act_fn: Literal["gelu", "relu"] = "gelu"  # the published model uses GELU
    normalization_type: Literal["LN", "LNPre"] = "LN"  # LNPre: LN with weights folded in

    def __post_init__(self) -> None:
        check_architecture(self)

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def to_hooked(self, *, seed: int | None = None, device: str = "cpu") -> HookedTransformerConfig:
        from transformer_lens import HookedTransformerConfig

        return HookedTransformerConfig(
            n_layers=self.n_layers,
            d_model=self.d_model,
            n_heads=self.n_heads,
            d_head=self.d_head,
            d_mlp=self.d_mlp,
            d_vocab=D_VOCAB,
            n_ctx=N_CTX,
            act_fn=self.act_fn,
            normalization_type=self.normalization_type,
            seed=seed,
            device=device,
        )

    def build(self, *, seed: int | None = None, device: str = "cpu") -> HookedTransformer:
        """A freshly (randomly) initialised model of this architecture."""
        from transformer_lens import HookedTransformer

        return HookedTransformer(self.to_hooked(seed=seed, device=device))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> OthelloGPTConfig:
        """The config a saved ``config.json`` holds: every field required (none defaulted,
        since each one changes the model's numbers) and no unknown ones."""
        return cls(**config_fields(cls, data, "OthelloGPT"))

    @classmethod
    def from_hooked(cls, model: HookedTransformer) -> OthelloGPTConfig:
        """The architecture of a loaded model (e.g. to build a random-init twin)."""
        return cls(**{f: getattr(model.cfg, f) for f in cls.__dataclass_fields__})

    @property
    def n_params(self) -> int:
        per_layer = 4 * self.d_model**2 + 2 * self.d_model * self.d_mlp
        return self.n_layers * per_layer + 2 * D_VOCAB * self.d_model + N_CTX * self.d_model


class ConfigError(ValueError):
    """A model config with a missing, unknown or invalid field."""


def config_fields(cls, data: dict, what: str, *, optional: tuple[str, ...] = ()) -> dict:
    """``data``'s fields for the dataclass ``cls``, refusing missing (other than those in
    ``optional``) and unknown keys by name, with the valid ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"A {what} config is a JSON object of fields, got {data!r}.")
    known = set(cls.__dataclass_fields__)
    unknown = set(data) - known
    missing = known - set(data) - set(optional)
    if unknown or missing:
        raise ConfigError(
            f"{what} config: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}; "
            f"a config holds exactly {sorted(known)} (none is defaulted: each changes the "
            "model's numbers)."
        )
    return dict(data)


def check_architecture(config) -> None:
    """Fail with a ``ConfigError`` naming the field unless every size is a positive whole
    number, the choices are valid and ``d_model`` splits into ``n_heads`` heads."""
    sizes = ["n_layers", "d_model", "n_heads", "d_mlp", "d_vocab", "n_ctx"]
    for name in (n for n in sizes if hasattr(config, n)):
        value = getattr(config, name)
        if name == "d_mlp" and value is None and hasattr(config, "d_vocab"):
            continue  # a language model without MLPs (attention-only)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive whole number, got {value!r}.")
    for name, valid in (("act_fn", ("gelu", "relu")), ("normalization_type", ("LN", "LNPre"))):
        value = getattr(config, name)
        if not isinstance(value, str) or value not in valid:
            raise ConfigError(f"{name} must be one of {list(valid)}, got {value!r}.")
    if config.d_model % config.n_heads:
        raise ConfigError(
            f"d_model ({config.d_model}) must be divisible by n_heads ({config.n_heads})."
        )


#: The architecture of Li et al.'s published OthelloGPT (TransformerLens ``othello-gpt``).
PUBLISHED_CONFIG = OthelloGPTConfig(
    n_layers=8, d_model=512, n_heads=8, d_mlp=2048, normalization_type="LNPre"
)

#: Seed of the random-init twins: every random-init baseline (probes, SAEs) reads this one.
RANDOM_INIT_SEED = 1234


def random_init_twin(model: HookedTransformer) -> HookedTransformer:
    """The model's architecture with random weights: the baseline the shipped random-init
    probes and SAEs were trained on (same seed everywhere, so they match it), named after
    the model with ``-random-init``, as those SAEs record it."""
    twin = OthelloGPTConfig.from_hooked(model).build(seed=RANDOM_INIT_SEED).eval()
    twin.cfg.model_name = f"{model.cfg.model_name}-random-init"
    return twin


class NotOthelloModelError(ValueError):
    """An Othello analysis was given a model that does not read Othello tokens."""


def require_othello_model(model: HookedTransformer) -> None:
    """Fail loudly unless ``model`` reads OthelloGPT tokens (61 of them, 59 positions).

    A language model would otherwise take the move tokens as word pieces without complaint
    (1..60 are valid ids of any larger vocabulary) and every figure would be noise.
    """
    d_vocab, n_ctx = model.cfg.d_vocab, model.cfg.n_ctx
    if d_vocab != D_VOCAB or n_ctx < N_CTX:
        raise NotOthelloModelError(
            f"This needs an OthelloGPT (a vocabulary of {D_VOCAB} tokens: pass + the 60 "
            f"non-centre squares, and a context of at least {N_CTX} moves); this model has a "
            f"vocabulary of {d_vocab} and a context of {n_ctx}. workbench.list_models() (or "
            "'workbench models') names the OthelloGPTs, 'othello' first."
        )
