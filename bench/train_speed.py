"""How long `relais train` takes on 100,000 examples, phase by phase, on this machine.

    .venv/bin/python bench/train_speed.py [--rows 100000] [--corrections 200]
                                          [--set tol=1e-3 --set max_iter=100]

The shipped training split is topped up to `--rows` examples by resampling its own rows (fixed
seed; a resampled row gets a short suffix so the hashers see new text), and the same phases as
`classifier.train.train_model` run one by one: split and weights, features (normalise, hash,
TF-IDF), the logistic-regression fit, and the held-out evaluation. Prints seconds per phase, the
solver's iteration count and the held-out macro-F1, so a speed-up can be checked against quality.

`--corrections N` adds N reviewer corrections as `relais train` weighs them (the first N messages
of the CLAP app reviews in /work/shared/data, a development-only set, weight
`app.learning.CORRECTION_WEIGHT`, classes evened out, capped at half the weight) and times the
extra phases they bring: the domain gate and the fit on the doubled features
(`classifier.adapt`). Measured back to back on 100,000 rows (load average 2.3-2.5: another job
shared the 2 cores): 41.1 s in all without corrections (fit 36.5 s), 41.7 s with 200 (gate 1.7 s,
fit 35.0 s). Under heavier load the same pair took 76 s and 128 s, so compare runs made together.
`--received N` also gives the gate N received messages (the CLAP reviews over and over, each with a
suffix), as `relais train` does with up to `app.learning.RECEIVED_LIMIT`: back to back (load
average 2.0), 200 corrections 36.7 s (gate 1.1 s, fit 31.6 s), with 20,000 received messages
38.0 s (gate 2.8 s, fit 32.2 s).
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
import scipy.sparse as sp  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from app.learning import CORRECTION_WEIGHT  # noqa: E402
from classifier.adapt import CorrectionDomain, gate_sample  # noqa: E402
from classifier.data import CATEGORIES, load_public, load_training_rows, sample_weights, split_rows  # noqa: E402
from classifier.evaluate import evaluation_report  # noqa: E402
from classifier.model import TriageModel  # noqa: E402
from classifier.pipeline import DEFAULT_HYPERPARAMETERS, build_pipeline  # noqa: E402
from classifier.train import (  # noqa: E402
    CLASS_POWER,
    DEFAULT_SOURCE_SHARE,
    DOMAIN_SCALE,
    EXTRA_MAX_SHARE,
    SOURCE_SHARES,
    balance_extra,
)


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
    parser.add_argument("--corrections", type=int, default=0, help="reviewer corrections to add")
    parser.add_argument(
        "--received", type=int, default=0, help="received messages for the domain gate (with --corrections)"
    )
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
    n_shipped = len(texts)
    if args.corrections:
        reviews = load_public(Path("/work/shared/data/scalabrino2017_clap.csv"))
        chosen = [(r.text, r.label, CORRECTION_WEIGHT) for r in reviews if r.label in CATEGORIES]
        chosen = balance_extra(random.Random(11).sample(chosen, args.corrections))
        chosen_total = sum(w for _, _, w in chosen)
        scale = min(1.0, EXTRA_MAX_SHARE / (1 - EXTRA_MAX_SHARE) * weights.sum() / chosen_total)
        texts += [t for t, _, _ in chosen]
        labels += [label for _, label, _ in chosen]
        weights = np.concatenate([weights, [w * scale for _, _, w in chosen]])
    phases = {"split+weights": time.perf_counter() - started}

    pipeline = build_pipeline(**params)
    started = time.perf_counter()
    features = pipeline[:-1].fit_transform(texts)
    phases["features"] = time.perf_counter() - started
    clf = pipeline.named_steps["clf"]
    if args.corrections:
        started = time.perf_counter()
        is_extra = np.zeros(features.shape[0])
        is_extra[n_shipped:] = 1.0
        rows = np.concatenate([gate_sample(n_shipped), np.arange(n_shipped, features.shape[0])])
        gate_X, gate_y = features[rows], is_extra[rows]
        if args.received:
            # the CLAP reviews again and again, each time with a suffix (new text for the hashers)
            received: Any = [
                f"{reviews[i % len(reviews)].text} #{i // len(reviews)}" for i in range(args.received)
            ]
            for _, step in pipeline.steps[:-1]:
                received = step.transform(received)
            gate_X = sp.vstack([gate_X, received], format="csr")
            gate_y = np.r_[gate_y, np.ones(args.received)]
        adapt = CorrectionDomain(scale=DOMAIN_SCALE).fit(gate_X, gate_y, copy_rows=features[n_shipped:])
        phases["gate"] = time.perf_counter() - started
        started = time.perf_counter()
        clf.fit(adapt.augment(features, is_extra), labels, sample_weight=weights)
        pipeline = Pipeline([*pipeline.steps[:-1], ("adapt", adapt), ("clf", clf)])
    else:
        started = time.perf_counter()
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
