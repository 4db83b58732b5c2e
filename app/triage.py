"""The running service's view of the classifier: the promoted model, hot-reloaded.

`ModelHolder` keeps one loaded `TriageModel` and swaps it for a new one when `models/CURRENT`
changes. It classifies at intake (the fast pipeline) and, for the refine pass, again with the
contextual encoder (`refine`: the model's refining head, `classifier/refine.py`). The swap is a
single reference assignment: a request that already took the old model finishes with it, the next
one gets the new one; nothing is dropped. Each process (every uvicorn worker, every `relais
worker`) polls on its own, so all of them follow a promotion.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import metrics, spam
from classifier import Prediction, TriageModel, current_version, encoder, load_version

log = logging.getLogger("relais.triage")


def _malloc_trim() -> Any:
    """glibc's `malloc_trim`, or None on another C library."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def give_back_memory() -> None:
    """Hand the heap's free pages back to the system.

    Loading a model allocates for a moment (the archive, arrays before their final copy) and a swap
    frees the model it replaces; the C allocator keeps those pages otherwise, and the next reload
    then starts from a higher resident set. Measured with bench/reload_memory.py.
    """
    if _TRIM is not None:
        _TRIM(0)


@dataclass(frozen=True, slots=True)
class Triage:
    category: str | None
    confidence: float | None
    scores: dict[str, float] | None
    language: str | None
    model_version: str | None
    to_sort: bool
    spam: bool = False  # spam or abuse (app/spam.py): kept, filterable, no reply text
    # too short to tell its language: `language` is the account's (app/language.py)
    language_fallback: bool = False
    # the refine pass will read it again with the encoder (app/drafts/context.py)
    refine: bool = False


class ModelHolder:
    def __init__(self, models_dir: Path, threshold: float, *, refine: bool = False):
        self.models_dir = models_dir
        self.threshold = threshold
        self.refine_on = refine and encoder.available()
        self._encoder: encoder.Encoder | None = None  # loaded by the first refine
        self._model: TriageModel | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reload()

    @property
    def model(self) -> TriageModel | None:
        return self._model

    @property
    def refining(self) -> bool:
        """Whether new messages are to be read again by the refine pass."""
        model = self._model
        return self.refine_on and model is not None and model.head is not None

    @property
    def version(self) -> str | None:
        model = self._model
        return model.version if model is not None else None

    def reload(self) -> bool:
        """Load the promoted version if it differs from the one in memory; True when swapped."""
        with self._lock:
            try:
                wanted = current_version(self.models_dir)
            except OSError as e:
                log.warning("cannot read %s/CURRENT: %s", self.models_dir, e)
                return False
            if wanted is None or (self._model is not None and self._model.version == wanted):
                return False
            try:
                model = load_version(self.models_dir, wanted)
            except Exception:  # a broken artifact must not take the service down
                log.exception("cannot load model %s; keeping %s", wanted, self.version)
                return False
            self._model = model
            del model
            give_back_memory()
            metrics.MODEL_RELOADS.inc()
            log.info("model %s loaded", wanted)
            return True

    def start_polling(self, interval_s: float) -> None:
        def loop() -> None:
            swapped = False
            while not self._stop.wait(interval_s):
                if swapped:  # the requests that still held the old model have finished with it
                    give_back_memory()
                swapped = self.reload()

        self._thread = threading.Thread(target=loop, name="relais-model-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @staticmethod
    def unsorted(n: int) -> list[Triage]:
        return [Triage(None, None, None, None, None, True) for _ in range(n)]

    def classify(self, texts: Sequence[str]) -> list[Triage]:
        """Predict a batch; with no model everything goes to "to sort". Spam is told either way."""
        model = self._model
        if model is None:
            return [Triage(None, None, None, None, None, True, spam.is_spam(t)) for t in texts]
        refine = self.refine_on and model.head is not None
        return self._triages(model, model.predict(list(texts)), texts, refine)

    def refine(self, texts: Sequence[str]) -> list[Triage] | None:
        """The texts read again with the encoder, pooled with the pipeline (tens of ms each);
        None when there is nothing to refine with (no head, refining off)."""
        model = self._model
        if not self.refine_on or model is None or model.head is None:
            return None
        with self._lock:
            if self._encoder is None:
                self._encoder = encoder.Encoder(threads=1)
        embeddings = self._encoder.embed(list(texts))
        return self._triages(model, model.predict(list(texts), embeddings), texts, False)

    def _triages(
        self, model: TriageModel, predictions: Sequence[Prediction], texts: Sequence[str], refine: bool
    ) -> list[Triage]:
        out = []
        for p, text in zip(predictions, texts, strict=True):
            is_spam = spam.is_spam(text)
            out.append(
                Triage(
                    p.category,
                    round(float(p.confidence), 4),
                    {k: round(float(v), 4) for k, v in p.scores.items()},
                    p.language,
                    p.model_version,
                    p.confidence < self.threshold,
                    is_spam,
                    refine=refine and not is_spam,
                )
            )
        return out

    def explain(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        """The customer's words that weighed most for the category, never feature names."""
        model = self._model
        return model.explain_in_words(text, top=top) if model is not None else []

    def info(self) -> dict[str, Any]:
        model = self._model
        return {
            "version": model.version if model else None,
            "metrics": (model.metadata or {}).get("metrics") if model else None,
        }
