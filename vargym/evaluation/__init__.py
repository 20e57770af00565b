"""Evaluation of generators: rewards, classifier fidelity (tiny classifier or ImageNet ResNet-50),
within-class diversity, FID, sampling speed.

Names are imported lazily on first use (``from vargym.evaluation import evaluate_model``).

- `vargym.evaluation.evaluate`: ``evaluate_model``, ``summary``
- `vargym.evaluation.config`: ``EvalConfig``; `vargym.evaluation.scorers`: ``Scorers``, ``build_scorers``
- `vargym.evaluation.checkpoints`: ``load_trained``
- `vargym.evaluation.metrics`: ``MetricAccumulator``, ``evaluate_images``, ``topk_accuracy``
- `vargym.data.diversity` (re-exported): ``pairwise_diversity``, ``downsample_pixels``
- `vargym.evaluation.fid`: ``feature_statistics``, ``fid_from_features``, ``load_statistics``,
  ``save_statistics``, ``load_inception``
- `vargym.evaluation.imagenet`: ``ImageNetClassifier``, ``load_resnet50``, ``imagenet_preprocess``
"""

from __future__ import annotations

from vargym.lazy import lazy_getattr

_EXPORTS = {
    "EvalConfig": "config",
    "Scorers": "scorers",
    "build_scorers": "scorers",
    "evaluate_model": "evaluate",
    "summary": "evaluate",
    "load_trained": "checkpoints",
    "MetricAccumulator": "metrics",
    "evaluate_images": "metrics",
    "topk_accuracy": "metrics",
    "downsample_pixels": "vargym.data.diversity",
    "pairwise_diversity": "vargym.data.diversity",
    "feature_statistics": "fid",
    "fid_from_features": "fid",
    "load_inception": "fid",
    "load_statistics": "fid",
    "save_statistics": "fid",
    "ImageNetClassifier": "imagenet",
    "imagenet_preprocess": "imagenet",
    "load_resnet50": "imagenet",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr("vargym.evaluation", _EXPORTS)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
