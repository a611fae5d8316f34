"""Named architectures for ``workbench train --preset``."""

from workbench.models.config import PUBLISHED_CONFIG, OthelloGPTConfig
from workbench.models.lm import LMConfig

PRESETS: dict[str, OthelloGPTConfig] = {
    "tiny": OthelloGPTConfig(n_layers=2, d_model=32, n_heads=2, d_mlp=64),  # tests
    "small": OthelloGPTConfig(n_layers=4, d_model=128, n_heads=4, d_mlp=512),
    "medium": OthelloGPTConfig(n_layers=6, d_model=192, n_heads=6, d_mlp=768),
    "default": OthelloGPTConfig(),  # 6 layers, d_model 256
    "published": PUBLISHED_CONFIG,  # Li et al.'s size: 8 layers, d_model 512
}

#: Named architectures for ``workbench train-lm --preset``.
LM_PRESETS: dict[str, LMConfig] = {
    "tiny": LMConfig(n_layers=2, d_model=32, n_heads=2, d_mlp=None, d_vocab=512, n_ctx=64),
    "attn-only-2l": LMConfig(n_layers=2, d_model=256, n_heads=8, d_mlp=None),
    "2l": LMConfig(n_layers=2, d_model=256, n_heads=8, d_mlp=1024),
}
