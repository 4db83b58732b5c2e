"""Model artifacts on disk.

    models/
      CURRENT                      the promoted version's name, rewritten atomically
      <version>/model.skops        the fitted Pipeline, written by skops.io.dump
      <version>/metadata.json      version, created_at, library versions, data fingerprint,
                                   labels, hyperparameters, metrics, row counts per source
      <version>/refine.npz         the refining head (`classifier.refine`), when trained with
                                   the encoder: arrays only, read without pickle

Version names sort by time: `YYYYMMDD-HHMMSS-<first 8 hex of the data fingerprint>`.
Loading never unpickles: skops rebuilds only the types in `TRUSTED_TYPES`, a fixed allow-list in
this file; a model file that needs any other type is refused (`UntrustedArtifact`). A model saved
with another scikit-learn major.minor is refused too (`IncompatibleArtifact`): linear models and
hashing are not guaranteed stable across releases.

Errors: `ArtifactError` > `ModelNotFound`, `UntrustedArtifact`, `IncompatibleArtifact`.
"""

from __future__ import annotations

import json
import os
import platform
import re
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn
import skops
import skops.io as sio
from sklearn.pipeline import Pipeline

from classifier.model import TriageModel
from classifier.refine import RefineHead

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
CURRENT_FILE = "CURRENT"
_VERSION_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")

# Every type a triage pipeline is made of that skops does not trust by default.
TRUSTED_TYPES: tuple[str, ...] = (
    "classifier.adapt.CorrectionDomain",
    "classifier.embedding.StaticEmbedding",
    "classifier.features.CharNgramHasher",
    "classifier.features.CueFeatures",
    "classifier.features.SublinearTfidf",
    "classifier.features.WordNgramHasher",
    "classifier.text.TextNormalizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
)


class ArtifactError(Exception):
    """Base class of artifact errors."""


class ModelNotFound(ArtifactError):
    """No such version (or no CURRENT)."""


class UntrustedArtifact(ArtifactError):
    """The model file needs a type outside `TRUSTED_TYPES`."""


class IncompatibleArtifact(ArtifactError):
    """The model was saved with another scikit-learn major.minor."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model file depends on."""
    return {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
        "python": platform.python_version(),
    }


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def make_version(fingerprint: str, now: datetime | None = None) -> str:
    """A sortable version name for a model trained on data with this fingerprint."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{fingerprint[:8]}"


def save_model(
    models_dir: Path, pipeline: Pipeline, metadata: dict[str, Any], head: RefineHead | None = None
) -> Path:
    """Write `models_dir/<metadata["version"]>/` (with the refining head, if any) and return it."""
    version = metadata["version"]
    if not _VERSION_RE.match(version):
        raise ArtifactError(f"bad version name {version!r}")
    models_dir.mkdir(parents=True, exist_ok=True)
    # two trainings within one second (same data, other settings) must not collide: take the
    # next free second; the name stays sortable by creation
    stamp = datetime.strptime(version[:15], "%Y%m%d-%H%M%S")
    while (models_dir / version).exists():
        stamp += timedelta(seconds=1)
        version = f"{stamp:%Y%m%d-%H%M%S}{version[15:]}"
    metadata["version"] = version
    target = models_dir / version
    target.mkdir(exist_ok=False)
    model_path = target / MODEL_FILE
    sio.dump(pipeline, model_path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    needed = sorted(sio.get_untrusted_types(file=model_path))
    unknown = [t for t in needed if t not in TRUSTED_TYPES]
    if unknown:
        model_path.unlink()
        target.rmdir()
        raise UntrustedArtifact(f"pipeline uses types outside TRUSTED_TYPES: {unknown}")
    if head is not None:
        head.save(target)
    full = {**metadata, "trusted_types": needed, "libraries": library_versions()}
    _write_atomic(target / METADATA_FILE, json.dumps(full, indent=2, sort_keys=True) + "\n")
    return Path(target)


def read_metadata(models_dir: Path, version: str) -> dict[str, Any]:
    """The metadata.json of one version."""
    path = models_dir / version / METADATA_FILE
    if not _VERSION_RE.match(version) or not path.exists():
        raise ModelNotFound(f"no model version {version!r} in {models_dir}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_version(models_dir: Path, version: str) -> TriageModel:
    """Load one version; refuses untrusted types and another scikit-learn major.minor."""
    metadata = read_metadata(models_dir, version)
    saved = metadata.get("libraries", {}).get("sklearn", "")
    if _major_minor(saved) != _major_minor(sklearn.__version__):
        raise IncompatibleArtifact(
            f"model {version} was saved with scikit-learn {saved}, this is {sklearn.__version__}: retrain it"
        )
    model_path = models_dir / version / MODEL_FILE
    needed = sio.get_untrusted_types(file=model_path)
    unknown = sorted(t for t in needed if t not in TRUSTED_TYPES)
    if unknown:
        raise UntrustedArtifact(f"model {version} needs untrusted types: {unknown}")
    try:
        pipeline = sio.load(model_path, trusted=list(TRUSTED_TYPES))
    except sio.exceptions.UntrustedTypesFoundException as error:  # pragma: no cover - double guard
        raise UntrustedArtifact(str(error)) from error
    if not isinstance(pipeline, Pipeline):
        raise UntrustedArtifact(f"model {version} is a {type(pipeline).__name__}, not a Pipeline")
    return TriageModel(pipeline, metadata, RefineHead.load(models_dir / version))


def current_version(models_dir: Path) -> str | None:
    """The promoted version named in CURRENT, or None; only reads one small file."""
    try:
        name = (models_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def load_current(models_dir: Path) -> TriageModel | None:
    """The promoted model, or None when there is none."""
    version = current_version(models_dir)
    if version is None:
        return None
    return load_version(models_dir, version)


def promote(models_dir: Path, version: str) -> None:
    """Make `version` the current model by rewriting CURRENT atomically."""
    read_metadata(models_dir, version)
    if not (models_dir / version / MODEL_FILE).exists():
        raise ModelNotFound(f"version {version} has no {MODEL_FILE}")
    _write_atomic(models_dir / CURRENT_FILE, version + "\n")


def list_versions(models_dir: Path) -> list[dict[str, Any]]:
    """Every stored version, oldest first: version, created_at, current, macro_f1, rows."""
    current = current_version(models_dir)
    out: list[dict[str, Any]] = []
    if not models_dir.exists():
        return out
    for entry in sorted(models_dir.iterdir()):
        if not entry.is_dir() or not _VERSION_RE.match(entry.name):
            continue
        try:
            metadata = read_metadata(models_dir, entry.name)
        except ModelNotFound:
            continue
        out.append(
            {
                "version": entry.name,
                "created_at": metadata.get("created_at"),
                "current": entry.name == current,
                "macro_f1": metadata.get("metrics", {}).get("macro_f1"),
                "train_rows": sum(metadata.get("train_rows_by_source", {}).values()),
            }
        )
    return out


def _write_atomic(path: Path, content: str) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
