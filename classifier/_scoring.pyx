# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled scoring of the hashed n-gram blocks: text in, decision scores out, one pass per message.

`TriageModel._block_products` used to do it in NumPy: about thirty array operations per block and
per call (hash, sort, count, weigh, normalise, gather, sum), each with a few microseconds of fixed
cost. Under a burst the web process classifies each event-loop turn's deliveries together, a
handful at a time, so those fixed costs were most of the classifier's time and the classifier
about 40 % of the web process (py-spy). Here each message is hashed, its n-grams sorted and
counted, weighted and summed into its scores in C.

The arithmetic is the training path's (`CharNgramHasher.columns`, `WordNgramHasher.columns`,
`SublinearTfidf.transform`): the same hashes and columns, per document the distinct columns in
increasing order, value (1 + log count) x idf, divided by the document's L2 norm, and the weight
rows summed in that order. Only `log` may differ in its last bit from NumPy's; the tests compare
both paths.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport log, sqrt
from libc.stdint cimport int64_t, uint32_t
from libc.stdlib cimport qsort

cdef uint32_t PRIME = 0x01000193u
cdef uint32_t LENGTH_SALT = 0x9E3779B9u
cdef uint32_t BIGRAM_SALT = 0x27D4EB2Fu


cdef inline uint32_t _mix(uint32_t value) noexcept nogil:
    value ^= value >> 16
    value *= 0x85EBCA6Bu
    value ^= value >> 13
    value *= 0xC2B2AE35u
    value ^= value >> 16
    return value


cdef int _compare(const void *a, const void *b) noexcept nogil:
    cdef uint32_t x = (<const uint32_t *> a)[0]
    cdef uint32_t y = (<const uint32_t *> b)[0]
    return (x > y) - (x < y)


cdef void _add_document(
    uint32_t *columns,
    Py_ssize_t count,
    const double[::1] idf,
    const double[:, ::1] weights,
    double[:, ::1] scores,
    Py_ssize_t doc,
    double *values,
    double *total,
) noexcept nogil:
    """Sort one document's columns, weigh each distinct one, L2-normalise, add its weight rows."""
    cdef Py_ssize_t i, j, k, distinct = 0, n_out = weights.shape[1]
    cdef double norm = 0.0, value
    if count == 0:
        return
    qsort(columns, count, sizeof(uint32_t), _compare)
    i = 0
    while i < count:
        j = i + 1
        while j < count and columns[j] == columns[i]:
            j += 1
        value = (log(<double> (j - i)) + 1.0) * idf[columns[i]]
        columns[distinct] = columns[i]
        values[distinct] = value
        norm += value * value
        distinct += 1
        i = j
    norm = sqrt(norm)
    if norm == 0.0:
        norm = 1.0
    for k in range(n_out):
        total[k] = 0.0
    for i in range(distinct):
        value = values[i] / norm
        for k in range(n_out):
            total[k] += weights[columns[i], k] * value
    for k in range(n_out):
        scores[doc, k] += total[k]


def add_char_scores(
    list texts,
    int ngram_min,
    int ngram_max,
    uint32_t n_features,
    const double[::1] idf,
    const double[:, ::1] weights,
    double[:, ::1] scores,
):
    """scores[d] += the char block's TF-IDF row of texts[d] @ weights (`CharNgramHasher` columns:
    n-grams of " text " with NUL read as a space)."""
    cdef Py_ssize_t doc, i, n, length, longest = 0, count
    cdef uint32_t running, powers[64]
    cdef uint32_t *codes
    cdef uint32_t *columns
    cdef double *values
    cdef double *total
    cdef Py_UCS4 ch
    cdef str text
    if ngram_min < 1 or ngram_max < ngram_min or ngram_max > 63:
        raise ValueError("n-gram sizes must be within 1..63")
    if weights.shape[0] != n_features or idf.shape[0] != n_features or scores.shape[0] != len(texts):
        raise ValueError("weights, idf and scores do not match")
    powers[0] = 1
    for n in range(1, ngram_max + 1):
        powers[n] = powers[n - 1] * PRIME
    for text in texts:
        longest = max(longest, len(text))
    longest += 2
    codes = <uint32_t *> PyMem_Malloc(longest * sizeof(uint32_t))
    columns = <uint32_t *> PyMem_Malloc(longest * (ngram_max - ngram_min + 1) * sizeof(uint32_t))
    values = <double *> PyMem_Malloc(longest * (ngram_max - ngram_min + 1) * sizeof(double))
    total = <double *> PyMem_Malloc(weights.shape[1] * sizeof(double))
    if codes == NULL or columns == NULL or values == NULL or total == NULL:
        PyMem_Free(codes)
        PyMem_Free(columns)
        PyMem_Free(values)
        PyMem_Free(total)
        raise MemoryError()
    try:
        for doc in range(len(texts)):
            text = texts[doc]
            codes[0] = 32
            length = 1
            for ch in text:
                codes[length] = 32 if ch == 0 else <uint32_t> ch
                length += 1
            codes[length] = 32
            length += 1
            count = 0
            for i in range(length):
                running = 0
                for n in range(1, ngram_max + 1):
                    if i + n > length:
                        break
                    running += codes[i + n - 1] * powers[n]
                    if n >= ngram_min:
                        columns[count] = _mix(running + <uint32_t> n * LENGTH_SALT) % n_features
                        count += 1
            _add_document(columns, count, idf, weights, scores, doc, values, total)
    finally:
        PyMem_Free(codes)
        PyMem_Free(columns)
        PyMem_Free(values)
        PyMem_Free(total)


def add_word_scores(
    const int64_t[::1] tokens,
    int ngram_max,
    uint32_t n_features,
    const double[::1] idf,
    const double[:, ::1] weights,
    double[:, ::1] scores,
):
    """scores[d] += the word block's TF-IDF row of document d @ weights, from the batch's token
    hashes (`WordNgramHasher.token_hashes`: CRC32 per token, -1 closing each document)."""
    cdef Py_ssize_t doc = 0, i, j, start = 0, count
    cdef Py_ssize_t n_tokens = tokens.shape[0]
    cdef uint32_t *columns
    cdef double *values
    cdef double *total
    if ngram_max not in (1, 2):
        raise ValueError("ngram_max must be 1 or 2")
    if weights.shape[0] != n_features or idf.shape[0] != n_features:
        raise ValueError("weights and idf do not match")
    columns = <uint32_t *> PyMem_Malloc((2 * n_tokens + 1) * sizeof(uint32_t))
    values = <double *> PyMem_Malloc((2 * n_tokens + 1) * sizeof(double))
    total = <double *> PyMem_Malloc(weights.shape[1] * sizeof(double))
    if columns == NULL or values == NULL or total == NULL:
        PyMem_Free(columns)
        PyMem_Free(values)
        PyMem_Free(total)
        raise MemoryError()
    try:
        for i in range(n_tokens):
            if tokens[i] >= 0:
                continue
            # tokens[start:i] is one document
            if doc >= scores.shape[0]:
                raise ValueError("more documents in the tokens than rows in scores")
            count = 0
            for j in range(start, i):
                columns[count] = _mix(<uint32_t> tokens[j]) % n_features
                count += 1
                if ngram_max == 2 and j + 1 < i:
                    columns[count] = _mix(
                        ((<uint32_t> tokens[j] * PRIME) ^ <uint32_t> tokens[j + 1]) + BIGRAM_SALT
                    ) % n_features
                    count += 1
            _add_document(columns, count, idf, weights, scores, doc, values, total)
            doc += 1
            start = i + 1
    finally:
        PyMem_Free(columns)
        PyMem_Free(values)
        PyMem_Free(total)
