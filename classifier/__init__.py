"""Relais triage classifier: question / complaint / suggestion / other, with language and version.

Standalone: never imports `app`. Public API:

    from classifier import CATEGORIES, Prediction, TriageModel, load_current, load_version, current_version
"""

from classifier.artifacts import (
    ArtifactError,
    IncompatibleArtifact,
    ModelNotFound,
    UntrustedArtifact,
    current_version,
    list_versions,
    load_current,
    load_version,
    promote,
)
from classifier.data import CATEGORIES
from classifier.model import Prediction, TriageModel

__all__ = [
    "CATEGORIES",
    "ArtifactError",
    "IncompatibleArtifact",
    "ModelNotFound",
    "Prediction",
    "TriageModel",
    "UntrustedArtifact",
    "current_version",
    "list_versions",
    "load_current",
    "load_version",
    "promote",
]
