"""Spam and abuse are recognised; a real complaint with a link, an insult or a price is not."""

from __future__ import annotations

import pytest

from app.spam import is_spam


@pytest.mark.parametrize(
    "text",
    [
        "🎁 GAGNEZ un iPhone 15 gratuit !!! Cliquez ici bit.ly/cadeau-iph0ne et suivez la page 🎁",
        "Félicitations, vous avez été sélectionné ! Votre carte cadeau offerte sur www.cadeau-gratuit.site",
        "CONCOURS 🎉 like + partage pour remporter une PS5 👉 https://tinyurl.com/ps5-gratuite",
        "WIN a free iPhone!!! click here https://bit.ly/3xYz",
        "J'ai gagné 4000€ en une semaine avec le trading crypto, écrivez-moi sur WhatsApp +44 7700 900123",
        "Investissez 250€ en bitcoin et doublez votre capital, rendement garanti 30% par mois",
        "Earn $500 per day with BTC trading, DM me for details",
        "Achetez des followers Instagram réels pas cher 👉 www.boostfollow.shop",
        "Buy 10k followers instantly, cheap and real, link in bio",
        "Gagnez 1000 abonnés sur Instagram en 24h, regarde mon profil",
        "connards",
        "bande d'abrutis",
        "fuck you",
        "ta gueule",
    ],
)
def test_spam_and_abuse(text: str) -> None:
    assert is_spam(text)


@pytest.mark.parametrize(
    "text",
    [
        # complaints with a link, an insult, a price or a prize: customers asking for something
        "Bande d'abrutis, ça fait 3 semaines que j'attends mon remboursement !",
        "Connards, rendez-moi mon colis, commande 45907",
        "Votre appli est pourrie, impossible de me connecter",
        "Service client de merde, personne ne répond",
        "C'est stupide, le site plante à chaque paiement",
        "J'ai gagné un bon d'achat au concours mais il ne marche pas sur le site, vous pouvez m'aider ?",
        "Le lien https://www.exemple.fr/suivi ne marche pas, mon colis est bloqué",
        "Vous acceptez le paiement en crypto ?",
        "I tried the crypto top up but the money disappeared from my account",
        "Votre pub « iPhone offert » sur Facebook, c'est une arnaque ? J'ai cliqué et on me demande ma carte",
        "Premier ! 😎",
        "Ok",
        "Merci beaucoup, super équipe !",
        "Is this OK for win 7 64 bit http://www.videolan.org/vlc/index.html",
        "les frais de port (FDP) sont abusés",
    ],
)
def test_not_spam(text: str) -> None:
    assert not is_spam(text)
