"""Vectorised feature extractors used by the pipeline (they take normalised text).

`CharNgramHasher` and `WordNgramHasher` replace scikit-learn's `HashingVectorizer`, which builds
every n-gram as a Python string and tops out near 20,000 short messages/s on one core for char
2-5-grams: here the whole batch is one UTF-32 array (chars) or one regex pass plus CRC32 per token
(words) and the n-gram hashes are combined with NumPy. `ngram_index` and `word_terms` compute the
same columns for one text, so explanations can map columns back to the terms of a message.

`CueFeatures` are a few regular expressions, each a group of surface patterns that mark a class
across domains, in French and English: a question mark or opening, a request for information
("is there a way", "est-il possible"), a modal or optative suggestion ("it would help", "please
add", "il faudrait"), a tip to other customers ("ask for", "don't forget", "worth the"), an
imperative opening a sentence or clause, a failure ("still not", "keeps crashing", "ne marche
plus", "remboursement"), negation and praise. They are deliberately few columns: the hashed
n-grams carry the vocabulary; the cues help on sources and domains never trained on. Each
pattern runs once over the whole batch joined by newlines, so the cost is in the regex engine.
`CueFeatures(cue_set=1)` is that set, unchanged; `cue_set=2` adds French complaint and question
cues of real social traffic (`CUE_LEXICONS_2`, shouting marked by the normaliser); which one a
model uses is its `cue_set` hyperparameter (`classifier.pipeline`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from classifier.text import SHOUT_MARK

_MASK32 = 0xFFFFFFFF
_PRIME = 0x01000193  # FNV-1 32-bit prime
_LENGTH_SALT = 0x9E3779B9
_SEPARATOR = "\x00"


def _mix_python(value: int) -> int:
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & _MASK32
    value ^= value >> 13
    value = (value * 0xC2B2AE35) & _MASK32
    value ^= value >> 16
    return value


def ngram_index(ngram: str, n_features: int) -> int:
    """Column of one n-gram string in a `CharNgramHasher` with `n_features` columns."""
    value = 0
    for k, ch in enumerate(ngram):
        value = (value + ord(ch) * pow(_PRIME, k + 1, 1 << 32)) & _MASK32
    value = (value + len(ngram) * _LENGTH_SALT) & _MASK32
    return _mix_python(value) % n_features


def _mix_numpy(values: np.ndarray) -> np.ndarray:
    values ^= values >> np.uint32(16)
    values *= np.uint32(0x85EBCA6B)
    values ^= values >> np.uint32(13)
    values *= np.uint32(0xC2B2AE35)
    values ^= values >> np.uint32(16)
    return values


def padded(text: str) -> str:
    """The string whose n-grams are hashed: the text between two spaces (marks word edges)."""
    return f" {text} "


def char_ngrams(text: str, ngram_min: int, ngram_max: int) -> list[str]:
    """The character n-grams `CharNgramHasher` counts for one normalised text."""
    s = padded(text)
    return [s[i : i + n] for n in range(ngram_min, ngram_max + 1) for i in range(len(s) - n + 1)]


def _counts_to_csr(columns: np.ndarray, doc_counts: np.ndarray, n_features: int) -> sp.csr_matrix:
    """CSR matrix of counts from columns already grouped by document, with each document's count."""
    indptr = np.zeros(doc_counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(doc_counts, out=indptr[1:])
    matrix = sp.csr_matrix(
        (np.ones(columns.shape[0], dtype=np.float64), columns.astype(np.int32), indptr),
        shape=(doc_counts.shape[0], n_features),
    )
    matrix.sum_duplicates()
    return matrix


# "?" and "!" are tokens: "it ?" and "please !" are useful bigrams; single letters are kept
# because French elisions ("j", "n", "l") and English "i" carry meaning in short messages.
WORD_TOKEN = re.compile(r"\w+|[?!]")
_WORD_TOKEN_OR_NEWLINE = re.compile(r"\w+|[?!]|\n")
_BIGRAM_SALT = 0x27D4EB2F


def _token_hash(token: str) -> int:
    return zlib.crc32(token.encode("utf-8"))


class _TokenHashes(dict[str, int]):
    """token -> CRC32, filled on first sight ("\\n", the document break, is -1)."""

    def __missing__(self, token: str) -> int:
        value = -1 if token == "\n" else _token_hash(token)
        self[token] = value
        return value


_TOKEN_HASHES = _TokenHashes()


def word_terms(text: str, ngram_max: int, n_features: int) -> list[tuple[str, int]]:
    """(term, column) of every word n-gram `WordNgramHasher` counts for one normalised text."""
    tokens = WORD_TOKEN.findall(text)
    hashes = [_token_hash(t) for t in tokens]
    terms = [(t, _mix_python(h) % n_features) for t, h in zip(tokens, hashes, strict=True)]
    if ngram_max >= 2:
        for i in range(len(tokens) - 1):
            value = ((hashes[i] * _PRIME) ^ hashes[i + 1]) & _MASK32
            value = (value + _BIGRAM_SALT) & _MASK32
            terms.append((f"{tokens[i]} {tokens[i + 1]}", _mix_python(value) % n_features))
    return terms


class WordNgramHasher(TransformerMixin, BaseEstimator):
    """Counts of hashed word unigrams (and bigrams if `ngram_max` is 2), as a CSR matrix.

    Equivalent in spirit to `HashingVectorizer(ngram_range=(1, 2), alternate_sign=False,
    norm=None)` but tokenises the whole batch with one regex call and hashes with NumPy.
    """

    def __init__(self, ngram_max: int = 2, n_features: int = 2**18) -> None:
        self.ngram_max = ngram_max
        self.n_features = n_features

    def fit(self, X: Iterable[str], y: object = None) -> WordNgramHasher:
        return self

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        return _counts_to_csr(*self.columns(X), self.n_features)

    @staticmethod
    def token_hashes(X: Iterable[str]) -> tuple[np.ndarray, int]:
        """(CRC32 of every token of the batch in order, -1 closing each document; number of
        documents): what the n-grams are hashed from."""
        texts = [t.replace("\n", " ") for t in X]
        tokens = _WORD_TOKEN_OR_NEWLINE.findall("\n".join(texts) + "\n") if texts else []
        if len(_TOKEN_HASHES) > 1_000_000:
            _TOKEN_HASHES.clear()
        raw = np.fromiter(map(_TOKEN_HASHES.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        return raw, len(texts)

    def columns(self, X: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(column of every counted n-gram, grouped by document; number of n-grams per document)."""
        if self.ngram_max not in (1, 2):
            raise ValueError("ngram_max must be 1 or 2")
        raw, n_docs = self.token_hashes(X)
        if n_docs == 0:
            return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64)
        is_break = raw < 0
        docs: np.ndarray = np.cumsum(is_break) - is_break  # document of each token
        hashes = raw.astype(np.uint32)
        width = 2 if self.ngram_max == 2 else 1
        columns = np.zeros((raw.shape[0], width), dtype=np.uint32)
        valid = np.zeros((raw.shape[0], width), dtype=bool)
        columns[:, 0] = _mix_numpy(hashes.copy()) % np.uint32(self.n_features)
        valid[:, 0] = ~is_break
        if width == 2 and raw.shape[0] > 1:
            pair = (hashes[:-1] * np.uint32(_PRIME)) ^ hashes[1:]
            pair += np.uint32(_BIGRAM_SALT)
            columns[:-1, 1] = _mix_numpy(pair) % np.uint32(self.n_features)
            valid[:-1, 1] = ~is_break[:-1] & ~is_break[1:]
        doc_counts = np.bincount(docs, weights=valid.sum(axis=1), minlength=n_docs).astype(np.int64)
        return columns[valid], doc_counts


class CharNgramHasher(TransformerMixin, BaseEstimator):
    """Counts of hashed character n-grams of each (normalised) text, as a CSR matrix."""

    def __init__(self, ngram_min: int = 2, ngram_max: int = 5, n_features: int = 2**18) -> None:
        self.ngram_min = ngram_min
        self.ngram_max = ngram_max
        self.n_features = n_features

    def fit(self, X: Iterable[str], y: object = None) -> CharNgramHasher:
        return self

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        return _counts_to_csr(*self.columns(X), self.n_features)

    def columns(self, X: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(column of every counted n-gram, grouped by document; number of n-grams per document)."""
        texts = [padded(t.replace(_SEPARATOR, " ")) for t in X]
        n_docs = len(texts)
        if n_docs == 0:
            return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64)
        joined = _SEPARATOR.join(texts) + _SEPARATOR
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        total = codes.shape[0]
        lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=n_docs)
        # Distance from each position to the next separator: an n-gram starting at i is valid
        # when it ends before that separator.
        sep_positions = np.flatnonzero(codes == 0)
        next_sep = np.repeat(sep_positions, lengths)
        room = next_sep - np.arange(total)
        sizes = list(range(self.ngram_min, self.ngram_max + 1))
        hashes = np.zeros((total, len(sizes)), dtype=np.uint32)
        running = np.zeros(total, dtype=np.uint32)
        for n in range(1, self.ngram_max + 1):
            width = total - n + 1
            if width <= 0:
                break
            running[:width] += codes[n - 1 : n - 1 + width] * np.uint32(pow(_PRIME, n, 1 << 32))
            if n >= self.ngram_min:
                hashes[:width, n - self.ngram_min] = running[:width] + np.uint32((n * _LENGTH_SALT) & _MASK32)
        valid = room[:, None] >= np.asarray(sizes)[None, :]
        selected = _mix_numpy(hashes[valid]) % np.uint32(self.n_features)
        docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        doc_counts = np.bincount(docs, weights=valid.sum(axis=1), minlength=n_docs).astype(np.int64)
        return selected, doc_counts


def _phrases(*parts: str) -> tuple[str, ...]:
    """Expand "a|b c|d" style templates: each space-separated slot lists alternatives."""
    out: list[str] = []
    for template in parts:
        combos = [""]
        for slot in template.split(" "):
            combos = [f"{c} {alt}".strip() if alt else c for c in combos for alt in slot.split("|")]
        out.extend(combos)
    return tuple(dict.fromkeys(out))


def trie_regex(phrases: Iterable[str]) -> str:
    """One regex matching any phrase as whole words; a trailing "*" allows any word ending.

    Python's `re` tries every alternative of `a|b|c` at every position; a trie-shaped pattern
    branches once per character instead, which makes these lexicons about ten times faster.
    """
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for phrase in phrases:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: dict) -> str:  # type: ignore[type-arg]
        branches = []
        optional = False
        for ch, child in sorted(node.items()):
            if ch == "":
                optional = True
            elif ch == "*":
                branches.append(r"\w*" + (render(child) if set(child) != {""} else ""))
            else:
                branches.append(re.escape(ch) + render(child))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if optional:
            return "(?:" + body + ")?"
        return body

    return r"\b" + render(trie) + r"(?!\w)"


# Lexicons run on normalised text: lowercase, no accents, numbers as "0". Each group is one
# binary column; phrases are whole words, "a|b" lists alternatives of one slot, "*" any ending.
CUE_LEXICONS: dict[str, tuple[str, ...]] = {
    # Asking for information, wherever it sits in the message.
    "info_request": _phrases(
        "i want|need to know",
        "i would like to know",
        "wondering",
        "any idea|ideas",
        "do you know",
        "does anyone|anybody know",
        "anyone know",
        "let me know",
        "tell me",
        "is there a|any way",
        "is it possible",
        "how do|can|should i|we",
        "how to",
        "where can|do i",
        "can i|we",
        "do you have|offer|sell|ship|deliver",
        "je voudrais|veux|souhaiterais savoir",
        "j'aimerais savoir",
        "savoir si",
        "une idee",
        "dites-moi",
        "dites moi",
        "est-ce que",
        "est ce que",
        "est-il possible",
        "est il possible",
        "comment faire|fait|on",
        "quelqu'un sait",
        "please tell|let",
    ),
    # Modal and optative framing of a change to the product or service ("it would be nice").
    "suggestion_modal": _phrases(
        "it|that|this would be nice|great|cool|awesome|good|helpful|useful|better|ideal|handy|lovely",
        "it'd|that'd be nice|great|cool|awesome|good|helpful|useful|better|ideal|handy|lovely",
        "would be nice|great|cool|awesome|helpful|useful|better|ideal|handy|lovely|good",
        "would love|like to see",
        "would love",
        "i'd love|like to see",
        "it would|could help",
        "would help|make",
        "i wish",
        "wish you|there|it|they",
        "hope you|they add|will|can|bring",
        "hopefully",
        "you|u|they should",
        "should add|have|make|allow|offer|consider|bring|let|include|be|support|provide|give|show|remember",
        "could add|have|use|be|include|offer|provide",
        "need|needs to add|have|be|support|allow|include|offer",
        "needs a|an|more|better",
        "should be able",
        "please add|bring|make|allow|consider|offer|include|introduce|support|provide|give|let",
        "please enable|implement",
        "why not",
        "how|what about",
        "feature request",
        "suggest*",
        "it would be",
        "could|can|would you add|make|offer|consider|implement|bring|include|please",
        "consider adding|making|offering|having",
        "option|ability|possibility to",
        "an|a option",
        "support for",
        "allow us|users|me|people to",
        "let us|users|me|people",
        "ce|ca|se serait",
        "serait bien|top|cool|genial|super|pratique|utile|chouette|sympa|ideal",
        "il serait",
        "vous devriez",
        "tu devrais",
        "devriez",
        "devrait|devraient",
        "pensez|pense a",
        "il faudrait",
        "faudrait",
        "pourquoi pas",
        "pourquoi ne pas",
        "j'aimerais que",
        "j'aimerais bien que",
        "on aimerait|voudrait",
        "j'adorerais",
        "ajoutez|ajouter|proposez|proposer|mettez|permettre|permettez",
        "je suggere|propose",
        "idee",
        "ca|il manque",
        "manque un|une|de|d'",
        "serait-il possible",
        "serait il possible",
        "possibilite de|d'",
        "pourriez-vous ajouter|proposer|mettre",
        "pourriez vous ajouter|proposer|mettre",
    ),
    # Advice to other customers or travellers ("ask for a room on the top floor").
    "tip_advice": _phrases(
        "recommend*",
        "advis*",
        "advice",
        "tip|tips",
        "make|be sure",
        "don't|dont|do not forget|miss",
        "ask for",
        "try the|their",
        "worth it|the|a|every|trying|visiting|going|paying|checking",
        "must try|see|do|have|visit",
        "a must",
        "if you are|re|go|stay|plan|book|visit|travel|come",
        "if you're",
        "bring a|your|some",
        "book early|ahead|in advance|directly",
        "avoid the",
        "go for",
        "skip the",
        "opt for",
        "request a|an",
        "pay the extra",
        "je recommande|conseille",
        "je vous conseille|recommande",
        "conseil",
        "a eviter",
        "a ne pas manquer",
        "a tester|essayer|faire|voir",
        "n'hesitez pas",
        "demandez|reservez|prevoyez|evitez|prenez|essayez|allez",
        "must",
        "definitely",
    ),
    # Something is broken, late, wrong or unacceptable.
    "problem": _phrases(
        "not|doesn't|doesnt|don't|dont|isn't|isnt|won't|wont|didn't|didnt working|work",
        "does|did not work",
        "stopped working",
        "still not|no|doesn't|doesnt|waiting|broken|nothing",
        "no longer",
        "nothing happens",
        "keeps crashing|freezing|closing|failing|disconnecting|dropping|logging|asking|saying",
        "won't|wont|can't|cant|cannot|unable|broken|broke|crash*|bug*|error|fail*|issue|problem|still",
        "freez*|glitch*|lag|laggy|slow|stuck|unresponsive|drain*",
        "never|again|worst|terrible|awful|horrible|useless|ridiculous|disappoint*|scam|refund|charged",
        "waiting|lost|missing|wrong|delay*|cancel*|rude|unacceptable|fix|annoying|frustrat*",
        "never again|received|arrived",
        "fed up",
        "sick of",
        "rip off",
        "ripoff",
        "waste|wasted",
        "pathetic|disgust*|garbage|rubbish|trash|joke|uninstall*|complain*",
        "one|0 star",
        "marche|fonctionne pas|plus",
        "ne marche|fonctionne",
        "toujours pas|rien",
        "plus jamais",
        "jamais|encore|panne|bugue|plante|erreur|probleme|souci|nul|nulle|honte*|inadmissible",
        "scandal*|decu|decue|decevant|arnaque|rembours*|retard|annul*|perdu|attente|attends",
        "impossible|inacceptable|lamentable|pire|bloque*|coupure|coupe",
        "catastroph*|deplorable|degoute*|furieux|furieuse",
        "aucune|sans reponse",
        "n'importe quoi",
    ),
    "negation": _phrases(
        "not|no|never|dont|doesnt|didnt|isnt|wasnt|wont|cant|pas|plus|jamais|rien|aucun*|ne",
        "don't|doesn't|didn't|isn't|wasn't|can't|won't|couldn't|shouldn't|cannot",
    ),
    "thanks_praise": _phrases(
        "thank|thanks|thx|ty|love|great|awesome|amazing|excellent|perfect|best|congrat*",
        "thank you",
        "merci|bravo|genial|super|top|parfait|felicitations|adore|j'adore|cool|nickel|chapeau",
    ),
}
# Verbs whose imperative gives advice or asks for a change ("book early", "ajoutez ...").
IMPERATIVE_VERBS: tuple[str, ...] = _phrases(
    "add|bring|make|allow|let|give|offer|include|put|try|ask|avoid|book|get|take|remember|consider",
    "don't|dont|keep|stop|start|go|use|check|request|skip|pack|reserve|order|grab|visit",
    "do not",
    "be|make sure",
    "ajoutez|remettez|mettez|proposez|faites|pensez|arretez|evitez|essayez|gardez|donnez|laissez",
    "n'hesitez|prevoyez|installez|demandez|reservez|prenez|allez",
)
CUE_PATTERNS: dict[str, str] = {
    "question_mark": r"\?",
    "question_opening": (
        r"^(?:(?:hi|hello|hey|bonjour|salut|bonsoir|coucou)\b[ ,!.]*)?"
        r"(?:what|how|why|when|where|who|which|whats|can|could|is|are|do|does|did|will|would|should"
        r"|any ?one|anybody|comment|pourquoi|quand|ou|quel|quelle|quels|quelles|combien|qui"
        r"|est-ce|est ce|peut-on|peut on|pouvez|pourriez|puis-je|puis je|avez-vous|avez vous"
        r"|vous avez|y a-t-il|y a t il|c'est quoi|c est quoi|savez)\b"
    ),
    **{name: trie_regex(phrases) for name, phrases in CUE_LEXICONS.items()},
    # An imperative opening a sentence or following an "if ..." / "when ..." clause. The
    # punctuation is matched rather than looked behind: a pattern that starts with a character
    # class lets the regex engine skip ahead, about three times faster over a batch.
    "advice_imperative": (
        r"(?:^|[.!;:,] )(?:please |just |also |definitely |always )?" + trie_regex(IMPERATIVE_VERBS)
    ),
    "greeting_only": r"^(?:hi|hello|hey|bonjour|salut|bonsoir|coucou|yo|ok|okay|oui|non|yes|no)\W*$",
    "exclamation": r"!",
}
# The second cue set (`CueFeatures(cue_set=2)`): the first one plus what real French social
# traffic to a brand uses to complain or ask without the words above: anger and insults at the
# brand, waiting ("toujours pas", "depuis 0 jours"), nobody answering, distress, a service cut,
# money taken or owed, shouting (`classifier.text.SHOUT_MARK`, added by the normaliser), "!!" and
# angry emoji; and French questions without a question mark. Chosen from how such messages are
# written (the team's guideline, data/README.md), never from a development set's rows.
CUE_LEXICONS_2: dict[str, tuple[str, ...]] = {
    "anger_fr": _phrases(
        "honte|honteux|honteuse|scandaleux|scandaleuse|inadmissible|inacceptable|intolerable",
        "arnaque*|escroc*|voleur*|voleuse*|menteur*|incompetent*|minable*|pitoyable|lamentable",
        "bande de",
        "les pires",
        "vous etes nuls|nul|pires|incapables",
        "vous etes une honte",
        "vous etes des voleurs|escrocs|clowns|guignols",
        "foutage de gueule",
        "vous vous foutez|moquez",
        "se fout|foutent|moque|moquent de",
        "ras le bol",
        "ras-le-bol",
        "j'en ai marre",
        "marre",
        "c'est une blague",
        "c'est pas normal",
        "pas normal",
        "n'importe quoi",
        "abuse|abusez",
        "degoute*|degueulasse|ecoeure*|furax|enerve*|excede*",
        "merde|putain|bordel|wtf",
        "plus jamais",
        "a fuir",
        "fuyez",
    ),
    "waiting_fr": _phrases(
        "toujours pas|rien|aucun|aucune|bloque|bloquee",
        "toujours en attente",
        "depuis 0|des|plusieurs|trop|hier|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche",
        "depuis plus de",
        "ca|cela fait 0|des|plusieurs|plus",
        "0 jours|semaines|mois|heures|appels|relances",
        "j'attends|attendons|attend",
        "on attend",
        "j'attend",
        "je relance",
        "relance*",
        "encore une fois",
        "plusieurs fois",
        "personne ne repond|rappelle|bouge",
        "aucune reponse|nouvelle|nouvelles|solution",
        "pas de reponse|nouvelles|solution|retour",
        "sans reponse|nouvelles|solution",
        "injoignable*",
        "impossible de joindre|parler|contacter",
        "impossible d'avoir|d'obtenir",
        "impossible de vous joindre|contacter",
        "on me balade",
        "on se renvoie",
    ),
    "distress_fr": _phrases(
        "aidez-moi|aidez-nous",
        "aidez moi|nous",
        "au secours",
        "a l'aide",
        "help",
        "je suis desespere|desesperee",
        "je suis a bout",
        "je n'en peux plus",
        "j'en peux plus",
        "je ne sais plus quoi faire",
        "urgent|urgence",
    ),
    "outage_fr": _phrases(
        "ca saute|sautent",
        "ca a saute",
        "saute|sauter|disjoncte*",
        "coupure*|coupe|coupee|coupes|coupees",
        "plus de courant|lumiere|chauffage|electricite|gaz|eau|internet|connexion|reseau",
        "sans courant|lumiere|chauffage|electricite|gaz|eau|internet|connexion|reseau",
        "en panne",
        "ne marche|fonctionne toujours pas",
        "hs",
    ),
    "money_fr": _phrases(
        "rembours*",
        "prelev*",
        "debit*",
        "factur*",
        "trop paye|percu|facture",
        "mon argent",
        "deux fois",
        "double prelevement|facturation|paiement",
        "jamais recu|recue",
        "pas recu|recue",
        "colis perdu",
    ),
    "question_fr": _phrases(
        "est-ce que|qu'il|qu'on",
        "est ce que",
        "qu'est-ce que",
        "qu'est ce que",
        "comment faire|fait-on|puis-je|dois-je|proceder",
        "comment je|on fais|fait|peux|dois",
        "comment ca marche",
        "savoir si|comment|quand|pourquoi|combien|ou|quel|quelle|quels|quelles",
        "quand est-ce",
        "c'est quand",
        "a partir de quand",
        "a quelle heure|date",
        "possible de|d'",
        "c'est possible",
        "moyen de|d'",
        "il y a moyen",
        "vous savez|sauriez",
        "pouvez-vous|pourriez-vous",
        "pouvez|pourriez vous",
        "vous pouvez|pourriez me|m'",
        "je peux|pourrais|dois",
        "on peut",
        "faut-il",
        "faut il",
        "quel|quelle est",
        "quels|quelles sont",
        "ou trouver|est",
        "ou en est",
        "merci de me dire|confirmer|rappeler",
        "merci de m'indiquer",
        "une question",
        "renseignement*",
    ),
}
CUE_PATTERNS_2: dict[str, str] = {
    **CUE_PATTERNS,
    **{name: trie_regex(phrases) for name, phrases in CUE_LEXICONS_2.items()},
    # A verb and its subject inverted ("pouvez-vous", "faut-il", "a-t-on"): a question in French
    # even without its mark.
    "inversion_fr": r"\b\w+-(?:t-)?(?:vous|tu|il|elle|on|je|ils|elles|nous)\b",
    "shouting": re.escape(SHOUT_MARK),
    "exclamations": r"!!|!\?|\?!",
    "angry_emoji": (
        "[\U0001f620\U0001f621\U0001f624\U0001f92c\U0001f44e\U0001f4a9"
        "\U0001f612\U0001f643\U0001f62d\U0001f622\U0001f629\U0001f62b]"
    ),
}
CUE_SETS: dict[int, tuple[dict[str, str], dict[str, tuple[str, ...]]]] = {
    1: (CUE_PATTERNS, CUE_LEXICONS),
    2: (CUE_PATTERNS_2, {**CUE_LEXICONS, **CUE_LEXICONS_2}),
}
# Up to this many messages, `CueFeatures.dense` scans them one by one.
SMALL_BATCH = 8


class _CueTable:
    """One cue set compiled: its patterns, its columns, its lexicons as one trie."""

    def __init__(self, patterns: dict[str, str], lexicons: dict[str, tuple[str, ...]]) -> None:
        self.names = list(patterns)
        self.compiled = {name: re.compile(pattern, re.MULTILINE) for name, pattern in patterns.items()}
        self.column = {name: index for index, name in enumerate(patterns)}
        self.lexicons = [name for name in patterns if name in lexicons]
        # All lexicons in one trie: one scan of the batch instead of one per lexicon. A match is
        # then attributed to every lexicon whose own pattern finds something inside it ("not
        # working" is both a problem and a negation).
        self.all_lexicons = re.compile(
            trie_regex(p for name in self.lexicons for p in lexicons[name]), re.MULTILINE
        )
        self.separate = [name for name in patterns if name not in lexicons]
        self.separate_compiled = [(self.column[name], self.compiled[name]) for name in self.separate]
        self.lexicon_columns = lru_cache(maxsize=65_536)(self._lexicon_columns)

    def _lexicon_columns(self, matched: str) -> tuple[int, ...]:
        return tuple(self.column[name] for name in self.lexicons if self.compiled[name].search(matched))


_TABLES = {cue_set: _CueTable(patterns, lexicons) for cue_set, (patterns, lexicons) in CUE_SETS.items()}
# Every cue of every set by name (explanations look a cue's pattern up by its name).
ALL_CUE_PATTERNS: dict[str, str] = {
    name: p for patterns, _ in CUE_SETS.values() for name, p in patterns.items()
}


class CueFeatures(TransformerMixin, BaseEstimator):
    """Binary cue groups of `cue_set` plus a "short message" flag, scaled by `weight`, as a CSR
    matrix. Set 1 is the original one (models trained with it give the same columns); set 2 adds
    the French complaint and question cues of `CUE_LEXICONS_2`."""

    def __init__(self, weight: float = 1.0, cue_set: int = 1) -> None:
        self.weight = weight
        self.cue_set = cue_set

    def fit(self, X: Iterable[str], y: object = None) -> CueFeatures:
        if self.cue_set not in _TABLES:
            raise ValueError(f"unknown cue set {self.cue_set!r}: one of {sorted(_TABLES)}")
        return self

    @property
    def _table(self) -> _CueTable:
        return _TABLES[getattr(self, "cue_set", 1)]  # artifacts saved before cue sets: set 1

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray([f"cue:{name}" for name in self._table.names] + ["cue:short"], dtype=object)

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        return sp.csr_matrix(self.dense(X))

    def dense(self, X: Iterable[str]) -> np.ndarray:
        """The cue columns as a dense (documents x cues) array.

        A batch is scanned as one text (one regex pass per pattern, documents found by their
        offsets); a handful of messages, one by one: the batch path's dozen NumPy calls cost
        more than the scans themselves (a single message: 26 µs, against 6). Both give the same
        columns: no pattern matches across a line break, except `greeting_only`'s trailing `\\W*`,
        which can only run over lines of punctuation that hold no greeting of their own.
        """
        table = self._table
        texts = [t.replace("\n", " ") for t in X]
        n_docs = len(texts)
        if n_docs <= SMALL_BATCH:
            return self._dense_each(texts)
        out = np.zeros((n_docs, len(table.compiled) + 1), dtype=np.float64)
        joined = "\n".join(texts)
        line_starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
        for name in table.separate:
            positions = [m.start() for m in table.compiled[name].finditer(joined)]
            if positions:
                docs = np.searchsorted(line_starts, positions, side="right") - 1
                out[docs, table.column[name]] = 1.0
        positions = []
        columns: list[tuple[int, ...]] = []
        for match in table.all_lexicons.finditer(joined):
            positions.append(match.start())
            columns.append(table.lexicon_columns(match.group()))
        if positions:
            docs = np.searchsorted(line_starts, positions, side="right") - 1
            counts = np.fromiter(map(len, columns), dtype=np.int64, count=len(columns))
            flat = np.fromiter((c for cols in columns for c in cols), dtype=np.int64, count=int(counts.sum()))
            out[np.repeat(docs, counts), flat] = 1.0
        out[:, -1] = [1.0 if t.count(" ") < 3 else 0.0 for t in texts]
        out *= self.weight
        return out

    def _dense_each(self, texts: list[str]) -> np.ndarray:
        """`dense` message by message (texts on one line each)."""
        table = self._table
        width = len(table.compiled) + 1
        rows = []
        for text in texts:
            row = [0.0] * width
            for column, pattern in table.separate_compiled:
                if pattern.search(text) is not None:
                    row[column] = 1.0
            for match in table.all_lexicons.finditer(text):
                for column in table.lexicon_columns(match.group()):
                    row[column] = 1.0
            row[-1] = 1.0 if text.count(" ") < 3 else 0.0
            rows.append(row)
        out = np.array(rows, dtype=np.float64).reshape(len(texts), width)
        out *= self.weight
        return out


class SublinearTfidf(TransformerMixin, BaseEstimator):
    """(1 + log tf) x idf, then each row scaled to unit L2 norm.

    The same arithmetic as `TfidfTransformer(sublinear_tf=True, smooth_idf=True, norm="l2")`,
    without its per-call overhead (it rebuilds a dense idf vector from a diagonal matrix on
    every transform, about 0.5 ms with 2**17 columns, which alone would break the 1 ms budget).
    """

    def fit(self, X: sp.spmatrix, y: object = None) -> SublinearTfidf:
        matrix = sp.csr_matrix(X)
        n_docs = matrix.shape[0]
        document_frequency = np.bincount(matrix.indices, minlength=matrix.shape[1])
        self.idf_ = np.log((1 + n_docs) / (1 + document_frequency)) + 1.0
        return self

    def transform(self, X: sp.spmatrix) -> sp.csr_matrix:
        matrix = sp.csr_matrix(X, dtype=np.float64, copy=True)
        data = matrix.data
        np.log(data, out=data)
        data += 1.0
        data *= self.idf_[matrix.indices]
        row_of = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=data * data, minlength=matrix.shape[0]))
        norms[norms == 0.0] = 1.0
        data /= norms[row_of]
        return matrix
