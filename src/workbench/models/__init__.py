"""Model architectures, the registry of shipped and published models, and safe loading."""

from workbench.models.config import PUBLISHED_CONFIG, OthelloGPTConfig
from workbench.models.io import ModelFileError, load_model_folder, save_model
from workbench.models.registry import canonical_name, list_models, load_model, model_card

__all__ = [
    "PUBLISHED_CONFIG",
    "ModelFileError",
    "OthelloGPTConfig",
    "canonical_name",
    "list_models",
    "load_model",
    "load_model_folder",
    "model_card",
    "save_model",
]
