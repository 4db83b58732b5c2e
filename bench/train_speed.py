"""How long `relais train` takes on 100,000 examples, phase by phase, on this machine.

    .venv/bin/python bench/train_speed.py [--rows 100000] [--set tol=1e-3 --set max_iter=100]

The shipped training split is topped up to `--rows` examples by resampling its own rows (fixed
seed; a resampled row gets a short suffix so the hashers see new text), and the same phases as
`classifier.train.train_model` run one by one: split and weights, features (normalise, hash,
TF-IDF), the logistic-regression fit, and the held-out evaluation. Prints seconds per phase, the
solver's iteration count and the held-out macro-F1, so a speed-up can be checked against quality.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from classifier.data import load_training_rows, sample_weights, split_rows  # noqa: E402
from classifier.evaluate import evaluation_report  # noqa: E402
from classifier.model import TriageModel  # noqa: E402
from classifier.pipeline import DEFAULT_HYPERPARAMETERS, build_pipeline  # noqa: E402
from classifier.train import CLASS_POWER, DEFAULT_SOURCE_SHARE, SOURCE_SHARES  # noqa: E402


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--rows", type=int, default=100_000, help="training examples")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one hyperparameter (repeatable)",
    )
    args = parser.parse_args()
    overrides = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    params = {**DEFAULT_HYPERPARAMETERS, **overrides}
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"hyperparameters {overrides or 'default'}"
    )

    total = time.perf_counter()
    started = time.perf_counter()
    train, test = split_rows(load_training_rows(args.data))
    rng = random.Random(20261124)
    extra = [
        row._replace(text=f"{row.text} {rng.choice('!.?')}", id=f"{row.id}~{i}")
        for i, row in enumerate(rng.choices(train, k=max(0, args.rows - len(train))))
    ]
    train = (train + extra)[: args.rows]
    weights = np.asarray(sample_weights(train, SOURCE_SHARES, DEFAULT_SOURCE_SHARE, CLASS_POWER))
    texts, labels = [r.text for r in train], [r.label for r in train]
    phases = {"split+weights": time.perf_counter() - started}

    pipeline = build_pipeline(**params)
    started = time.perf_counter()
    features = pipeline[:-1].fit_transform(texts)
    phases["features"] = time.perf_counter() - started
    started = time.perf_counter()
    clf = pipeline.named_steps["clf"]
    clf.fit(features, labels, sample_weight=weights)
    phases["fit"] = time.perf_counter() - started
    started = time.perf_counter()
    report = evaluation_report(TriageModel(pipeline, {"version": "bench"}), test)
    phases["evaluate"] = time.perf_counter() - started
    phases["total"] = time.perf_counter() - total

    print(
        f"{len(train)} training rows, {features.shape[1]} features, {features.nnz} non-zeros; "
        f"{len(test)} held-out rows"
    )
    for name, seconds in phases.items():
        print(f"  {name:<14}{seconds:>8.1f} s")
    print(
        f"solver iterations {int(np.max(clf.n_iter_))} (max_iter {params['max_iter']}, tol {params['tol']})"
    )
    print(f"held-out macro-F1 {report['macro_f1']:.4f}, accuracy {report['accuracy']:.4f}")


if __name__ == "__main__":
    main()
