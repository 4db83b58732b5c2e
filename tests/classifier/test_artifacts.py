import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from classifier import (
    IncompatibleArtifact,
    ModelNotFound,
    TriageModel,
    UntrustedArtifact,
    current_version,
    list_versions,
    load_current,
    load_version,
    promote,
)
from classifier.artifacts import CURRENT_FILE, METADATA_FILE, MODEL_FILE, TRUSTED_TYPES, save_model


class Smuggled(TransformerMixin, BaseEstimator):
    """A type no allow-list knows: stands for any code an attacker would ship in a model file."""

    def fit(self, X: object, y: object = None) -> "Smuggled":
        return self

    def transform(self, X: object) -> object:
        return X


def test_round_trip_predicts_the_same(models_dir: Path, small_model: TriageModel) -> None:
    loaded = load_version(models_dir, small_model.version)
    texts = ["Vous livrez le dimanche ?", "My order never arrived", ""]
    assert np.array_equal(loaded.predict_proba(texts), small_model.predict_proba(texts))
    metadata = json.loads((models_dir / small_model.version / METADATA_FILE).read_text())
    assert set(metadata["libraries"]) == {"sklearn", "numpy", "scipy", "skops", "python"}
    assert set(metadata["trusted_types"]) <= set(TRUSTED_TYPES)
    assert len(metadata["data_fingerprint"]) == 64
    assert metadata["version"].endswith(metadata["data_fingerprint"][:8])


def test_no_current_means_none(tmp_path: Path) -> None:
    assert current_version(tmp_path) is None
    assert load_current(tmp_path) is None
    assert list_versions(tmp_path / "missing") == []


def test_unknown_type_in_model_file_is_refused(models_dir: Path, small_model: TriageModel) -> None:
    version_dir = models_dir / small_model.version
    tampered = Pipeline([("evil", Smuggled()), ("model", small_model.pipeline)])
    sio.dump(tampered, version_dir / MODEL_FILE)
    with pytest.raises(UntrustedArtifact, match="untrusted"):
        load_version(models_dir, small_model.version)


def test_saving_an_untrusted_pipeline_is_refused(tmp_path: Path, small_model: TriageModel) -> None:
    pipeline = Pipeline([("evil", Smuggled())])
    with pytest.raises(UntrustedArtifact):
        save_model(tmp_path, pipeline, {**small_model.metadata, "version": "20990101-000000-deadbeef"})
    assert not (tmp_path / "20990101-000000-deadbeef").exists()


def test_other_sklearn_minor_is_refused(models_dir: Path, small_model: TriageModel) -> None:
    path = models_dir / small_model.version / METADATA_FILE
    metadata = json.loads(path.read_text())
    metadata["libraries"]["sklearn"] = "1.5.2"
    path.write_text(json.dumps(metadata))
    with pytest.raises(IncompatibleArtifact, match="1.5.2"):
        load_version(models_dir, small_model.version)


def test_promote_list_and_missing_versions(models_dir: Path, small_model: TriageModel) -> None:
    newer = "20991231-235959-0123abcd"
    save_model(models_dir, small_model.pipeline, {**small_model.metadata, "version": newer})
    versions = list_versions(models_dir)
    assert [v["version"] for v in versions] == sorted([small_model.version, newer])
    assert [v["current"] for v in versions] == [True, False]
    promote(models_dir, newer)
    assert current_version(models_dir) == newer
    loaded = load_current(models_dir)
    assert loaded is not None and loaded.version == newer
    with pytest.raises(ModelNotFound):
        promote(models_dir, "20000101-000000-00000000")
    with pytest.raises(ModelNotFound):
        load_version(models_dir, "../etc")
    assert current_version(models_dir) == newer
    # Only CURRENT and the version directories: no temporary files left behind.
    assert sorted(p.name for p in models_dir.iterdir()) == sorted([CURRENT_FILE, small_model.version, newer])


def test_current_is_never_seen_half_written(models_dir: Path, small_model: TriageModel) -> None:
    other = "20991231-235959-0123abcd"
    save_model(models_dir, small_model.pipeline, {**small_model.metadata, "version": other})
    valid = {small_model.version, other}
    seen: set[str | None] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(current_version(models_dir))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(200):
        promote(models_dir, other if i % 2 else small_model.version)
    stop.set()
    thread.join()
    assert seen <= valid
    assert os.listdir(models_dir).count(CURRENT_FILE) == 1
