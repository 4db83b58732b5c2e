"""Spam and abuse: messages that get no reply text (and no thank-you), kept and filterable.

A message is spam when it pushes a giveaway or a "click here" behind a link, crypto or trading
gains, or followers and likes for sale; it is abuse when it insults and asks for nothing. A
complaint with a link, an insult or a price in it is not spam: anything that reads as a customer's
request (an order, a refund, a delivery, a question to the brand) clears it. Measured on real
complaints by bench/spam_rules.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# a link: a URL, a path on a domain, a bare domain under a TLD spammers favour ("promo-gift.co";
# "Cdiscount.com" alone is the brand's name), or "link in bio"
_TLD = (
    r"(?:com|net|org|fr|eu|co|io|me|ly|gl|gd|win|site|xyz|click|top|club|shop|store|online|info|biz|link|"
    r"live|app|gift|vip)"
)
_SPAM_TLD = r"(?:co|ly|gl|gd|win|site|xyz|click|top|club|shop|store|online|info|biz|link|live|gift|vip)"
_HAS_LINK = re.compile(
    rf"https?://|www\.|\bt\.me/|\b[\w-]+(?:\.[\w-]+)*\.{_TLD}/\S*|\b[\w-]+(?:\.[\w-]+)*\.{_SPAM_TLD}(?![\w.])|"
    r"\b(?:lien|link)\s+(?:est\s+|is\s+)?(?:dans|en|in)\s+(?:ma\s+|my\s+)?bio\b|"
    r"\b(?:clique[rz]?|click|voir|check|regarde[rz]?)\s+(?:sur\s+|on\s+)?(?:mon|ma|my)\s+(?:profil|profile|page|bio)\b",
    re.IGNORECASE,
)
_CONTACT_ELSEWHERE = re.compile(
    r"\b(?:dm|mp|pm|inbox)\s+(?:me|moi|pour|for)\b|\b(?:whats ?app|telegram)\b|"
    r"\b(?:contacte[rz]?|[ée]cri(?:vez|s)|ecrivez)[ -]moi\b",
    re.IGNORECASE,
)
# "Gagnez 500€ par jour", "Make $5000 a week from home", a loan between strangers
_MONEY = re.compile(
    r"\b(?:gagn\w*|make|earn\w*|recevez|receive|touche[rz])\s+(?:jusqu'à\s+|up to\s+)?"
    r"[\d$€][\d\s.,]*(?:k|€|\$|euros?)?"
    r"|\b(?:depuis chez (?:vous|moi|toi)|from home|revenus? passifs?|passive income|roi|"
    r"doublez votre capital|"
    r"pr[êe]t entre particuliers|argent rapide|cr[ée]dit rapide|signaux|signals)\b",
    re.IGNORECASE,
)
# Someone's own channel, method or page: "Suivez-moi", "ma méthode", "les bons plans ici"
_PROMOTION = re.compile(
    r"\b(?:suivez[ -]moi|follow me|abonnez[ -]vous|subscribe to my|ma cha[îi]ne|my channel|ma m[ée]thode|"
    r"my method|cette m[ée]thode|this method|bons plans|rencontres?|dating|c[ée]libataires|singles)\b",
    re.IGNORECASE,
)
# An account threatened, a click asked for: phishing
_PHISHING = re.compile(
    r"\b(?:compte|account)\s+(?:\w+\s+){0,2}(?:suspendu|bloqu[ée]|suspended|locked|closed|ferm[ée])|"
    r"\b(?:v[ée]rifie[rz]?|verify|confirme[rz]?|claim)\s+(?:ici|here|now|vos|your)\b|"
    r"\b(?:clique[rz]?|click)\s+(?:ici|here|sur le lien|the link|vite|now|maintenant)\b",
    re.IGNORECASE,
)
_GIVEAWAY = re.compile(
    r"\b(?:gagne[rz]?|remporte[rz]?)\s+(?:un|une|des|le|la|les|ton|votre|\d)\b"
    r"|\b(?:win|won)\s+(?:a|an|the|your|free|\$\d)\b"
    r"|\b(?:giveaway|concours|tirage au sort|jackpot|lots? à gagner|lucky winner|"
    r"you(?:'ve| have) (?:won|been chosen)|"
    r"(?:vous avez|tu as) (?:été sélectionn[ée]e?|gagn[ée]))\b"
    r"|\b(?:cadeaux?|gifts?|iphone|ipad|ps5|bons? d'achat|gift ?cards?|cartes? cadeaux?|smartphone)\b.{0,40}"
    r"\b(?:gratuite?s?|free|offerte?s?)\b"
    r"|\b(?:gratuite?s?|free|offerte?s?)\b.{0,40}"
    r"\b(?:cadeaux?|gifts?|iphone|ipad|ps5|bons? d'achat|gift ?cards?|smartphone|game keys)\b",
    re.IGNORECASE,
)
_CRYPTO = re.compile(
    r"\b(?:bitcoins?|btc|crypto(?:s|monnaies?|currency)?|ethereum|usdt|binance|forex|nft|airdrop|"
    r"trading|trader)\b",
    re.IGNORECASE,
)
_GAINS = re.compile(
    r"\b(?:invest(?:ir|issez|ment|ed|ing)?|profits?|gains?|earn(?:ed|ing)?|rendements?|revenus?|"
    r"returns?|passive|passif|x\s?\d+|\d+\s?%|\d+\s?(?:€|\$|euros?|dollars?)\s*(?:par|per|a|/)\s*"
    r"(?:jour|day|semaine|week)|doubl\w*)\b",
    re.IGNORECASE,
)
_FOLLOWERS = re.compile(
    r"\b(?:followers?|subscribers|(?:\d+\s?k?|des|vos|your|buy|more|free)\s+likes|likes\s+(?:et|and)\s+\w+|"
    r"(?:abonn[ée]s|vues|views)\s+(?:sur\s+|on\s+)?(?:insta\w*|tiktok|youtube|twitter|facebook|fb|ig))\b",
    re.IGNORECASE,
)
_SELLING = re.compile(
    r"\b(?:buy|achete[rz]?|achat|vends?|sell(?:ing)?|cheap|pas cher|boost\w*|gagne[rz]?|get|obtien\w*|"
    r"obtenir|gratuits?|free|instantly|instantan\w*|real|r[ée]els?|grow|prix cass[ée]s|promo\w*)\b",
    re.IGNORECASE,
)
# Insults at a person: the strong ones alone, the milder ones said to someone ("bande d'abrutis");
# "stupid", "crap" or "pourri" about a product are a complaint's words.
_INSULT = re.compile(
    r"\b(?:connards?|connasses?|salopes?|salauds?|encul[ée]s?|fils de pute|ta gueule|vos gueules|ntm|"
    r"nique (?:ta|ton|vos|votre)|fuck (?:you|off|u)|stfu|assholes?|motherfuckers?|b[âa]tards?)\b"
    r"|\b(?:you|u|vous|t'es|tu es|vous [êe]tes|bande d[e']|esp[èe]ces? d[e']|sales?)\s*(?:des\s+|de\s+)?"
    r"(?:idiots?|cons|d[ée]biles?|abrutis?|cr[ée]tins?|imb[ée]ciles?|morons?|clowns?|bouffons?|"
    r"minables?|merdes?|losers?)\b",
    re.IGNORECASE,
)
# What a customer asking for something writes: any of these clears a message of spam and abuse,
# except a link that pushes a giveaway, gains or a click (spammers borrow "votre remboursement").
_REQUEST = re.compile(
    r"\b(?:commande\w*|command[ée]\w*|colis|livr\w*|rembours\w*|factur\w*|mon compte|abonnement|"
    r"contrat|compteur|aide[rz]?|aidez|help|my order|refund\w*|deliver\w*|parcel|package|"
    r"my account|invoice|bill\w*|svp|stp|please|s'il (?:vous|te) pla[iî]t|toujours pas|"
    r"pas re[çc]u|jamais re[çc]u|attente|service client|sav|conseiller|"
    r"r[ée]clamation|panne|coupure|d[ée]bit[ée]?|prélèvement|pr[ée]lev\w*|"
    r"waiting|support|cancel\w*|annul\w*|retour)\b",
    re.IGNORECASE,
)
# What only a customer writes: it clears even a linked giveaway ("le lien du concours ne marche pas")
_CUSTOMER = re.compile(
    r"\b(?:toujours pas|pas re[çc]u|jamais re[çc]u|ma commande|mon colis|mon remboursement|mon compte|"
    r"my order|my account|my refund|ne (?:marche|fonctionne) (?:pas|plus)|doesn'?t work|not working|"
    r"arnaque|scam|phishing|fake|faux|fausse|l[ée]gitime|legit|c'est vous|is this you|ne cliquez pas|"
    r"don'?t click)\b",
    re.IGNORECASE,
)
# What a customer complaining talks about: an insult about these is a complaint, not abuse.
_TOPIC = re.compile(
    r"\?|\b(?:site|appli\w*|app|produit|article|achat|magasin|boutique|service|client\w*|"
    r"qualit[ée]|prix|price|offre|r[ée]pon\w*|appel\w*|attend\w*|probl[èe]me|bug\w*|"
    r"marche|fonctionne|product|store|shop|customer|answer|reply|call\w*|wait\w*|still|never|"
    r"issue|problem|broken|agence|technicien|facture|tarif)\b",
    re.IGNORECASE,
)


# Every rule needs one of these words (lower-case), or a link: a message without is not looked at
# further (one pass over its words, instead of a dozen regular expressions of alternatives).
_GATE_WORDS = frozenset(
    (
        "bio",
        "profil",
        "profile",
        "dm",
        "mp",
        "pm",
        "inbox",
        "whatsapp",
        "telegram",
        "moi",
        "free",
        "gratuit",
        "gratuite",
        "gratuits",
        "cadeau",
        "cadeaux",
        "bitcoin",
        "bitcoins",
        "btc",
        "crypto",
        "cryptos",
        "cryptomonnaie",
        "cryptomonnaies",
        "cryptocurrency",
        "ethereum",
        "usdt",
        "binance",
        "forex",
        "nft",
        "airdrop",
        "trading",
        "trader",
        "followers",
        "follower",
        "subscribers",
        "likes",
        "abonnés",
        "abonnes",
        "vues",
        "views",
        "connard",
        "connards",
        "connasse",
        "connasses",
        "salope",
        "salopes",
        "salaud",
        "salauds",
        "enculé",
        "enculés",
        "encule",
        "encules",
        "pute",
        "putes",
        "gueule",
        "gueules",
        "ntm",
        "nique",
        "fuck",
        "fucking",
        "stfu",
        "asshole",
        "assholes",
        "motherfucker",
        "motherfuckers",
        "bâtard",
        "bâtards",
        "batard",
        "batards",
        "idiot",
        "idiots",
        "cons",
        "débile",
        "débiles",
        "debile",
        "debiles",
        "abruti",
        "abrutis",
        "crétin",
        "crétins",
        "cretin",
        "cretins",
        "imbécile",
        "imbéciles",
        "imbecile",
        "imbeciles",
        "moron",
        "morons",
        "clown",
        "clowns",
        "bouffon",
        "bouffons",
        "minable",
        "minables",
        "merde",
        "merdes",
        "loser",
        "losers",
    )
)
_SPAM_DOMAIN = re.compile(rf"\.{_SPAM_TLD}\b")
_WORDS = re.compile(r"\w+")


# What a message shows, each found by one expression over its text; "pushed" (a giveaway, money,
# a promotion, phishing) is read with the links taken out: "free" in a link's path is no giveaway.
_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("linked", _HAS_LINK),
    ("contact", _CONTACT_ELSEWHERE),
    ("crypto", _CRYPTO),
    ("followers", _FOLLOWERS),
    ("insulting", _INSULT),
)
_PUSHED = (_GIVEAWAY, _MONEY, _PROMOTION, _PHISHING)


def _pushed(text: str, found: frozenset[str]) -> bool:
    bare = _HAS_LINK.sub(" ", text) if "linked" in found else text
    return any(p.search(bare) for p in _PUSHED)


# The verdicts, in order: the first rule whose test holds decides (True: spam or abuse; False: a
# customer's request); none holding, the message is not spam.
_RULES: tuple[tuple[str, bool, Callable[[str, frozenset[str]], bool]], ...] = (
    ("a customer's own words", False, lambda text, found: _CUSTOMER.search(text) is not None),
    (
        "a link or a contact elsewhere pushing something",
        True,
        lambda text, found: (
            bool(found & {"linked", "contact"})
            and (bool(found & {"crypto", "followers"}) or _pushed(text, found))
        ),
    ),
    ("a request", False, lambda text, found: _REQUEST.search(text) is not None),
    ("crypto gains", True, lambda text, found: "crypto" in found and _GAINS.search(text) is not None),
    (
        "followers for sale",
        True,
        lambda text, found: (
            "followers" in found and _SELLING.search(text) is not None and re.search(r"\d", text) is not None
        ),
    ),
    (
        "an insult about nothing of the brand's",
        True,
        lambda text, found: "insulting" in found and len(text.split()) <= 20 and _TOPIC.search(text) is None,
    ),
)


def is_spam(text: str) -> bool:
    """Whether the message is spam or abuse, which gets no reply text."""
    if not text:
        return False
    low = text.lower()
    if (
        "://" not in low
        and "www." not in low
        and "t.me/" not in low
        and _GATE_WORDS.isdisjoint(_WORDS.findall(low))
        and _SPAM_DOMAIN.search(low) is None
    ):
        return False  # almost every message stops here
    found = frozenset(name for name, pattern in _SIGNALS if pattern.search(text))
    if not found:
        return False
    for _, verdict, holds in _RULES:
        if holds(text, found):
            return verdict
    return False
