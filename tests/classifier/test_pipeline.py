import numpy as np

from classifier.data import Row
from classifier.pipeline import DEFAULT_HYPERPARAMETERS, build_pipeline


def _fit(rows: list[Row], small: dict[str, int]) -> np.ndarray:
    pipeline = build_pipeline(**{**DEFAULT_HYPERPARAMETERS, **small})
    pipeline.fit([r.text for r in rows], [r.label for r in rows])
    return np.asarray(pipeline.predict_proba(["ma commande est en retard ?", "merci !"]))


def test_fitting_twice_gives_identical_probabilities(
    small_rows: list[Row], small_hyperparameters: dict[str, int]
) -> None:
    rows = small_rows[:800]
    assert np.array_equal(_fit(rows, small_hyperparameters), _fit(rows, small_hyperparameters))


def test_every_hyperparameter_is_explicit() -> None:
    import inspect

    parameters = inspect.signature(build_pipeline).parameters
    assert all(p.default is inspect.Parameter.empty for p in parameters.values())
    assert set(parameters) == set(DEFAULT_HYPERPARAMETERS)
