"""Data: procedural class-conditional images, image folders, the tiny classifier, image grids.

Names are imported lazily on first use (``from vargym.data import generate`` loads only what it needs).

- `vargym.data.procedural`: ``CLASS_NAMES``, ``ProceduralConfig``, ``generate``, ``ProceduralDataset``,
  ``procedural_batches``
- `vargym.data.folder`: ``ImageFolderDataset``, ``load_image``
- `vargym.data.classifier`: ``ClassifierConfig``, ``TinyClassifier``, ``train_classifier``,
  ``classifier_accuracy``, ``save_classifier``, ``load_classifier``
- `vargym.data.grid`: ``save_grid``, ``grid_image``
- `vargym.data.diversity`: ``pairwise_diversity``, ``downsample_pixels`` (within-class distances of image sets)
- `vargym.data.prompts`: ``load_prompts``, ``PromptSet``, ``PromptFileError`` (PartiPrompts, GenEval, prompt files)
"""

from __future__ import annotations

from vargym.lazy import lazy_getattr

_EXPORTS = {
    "load_prompts": "prompts",
    "PromptSet": "prompts",
    "PromptFileError": "prompts",
    "CLASS_NAMES": "procedural",
    "NUM_CLASSES": "procedural",
    "ProceduralConfig": "procedural",
    "ProceduralDataset": "procedural",
    "generate": "procedural",
    "procedural_batches": "procedural",
    "ImageFolderDataset": "folder",
    "load_image": "folder",
    "ClassifierConfig": "classifier",
    "TinyClassifier": "classifier",
    "classifier_accuracy": "classifier",
    "load_classifier": "classifier",
    "save_classifier": "classifier",
    "train_classifier": "classifier",
    "grid_image": "grid",
    "save_grid": "grid",
    "downsample_pixels": "diversity",
    "pairwise_diversity": "diversity",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr("vargym.data", _EXPORTS)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
