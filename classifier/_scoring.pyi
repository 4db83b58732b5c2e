# Types of the compiled scorer (classifier/_scoring.pyx): both add into `scores` in place.
import numpy as np

def add_char_scores(
    texts: list[str],
    ngram_min: int,
    ngram_max: int,
    n_features: int,
    idf: np.ndarray,
    weights: np.ndarray,
    scores: np.ndarray,
) -> None: ...
def add_word_scores(
    tokens: np.ndarray,
    ngram_max: int,
    n_features: int,
    idf: np.ndarray,
    weights: np.ndarray,
    scores: np.ndarray,
) -> None: ...
