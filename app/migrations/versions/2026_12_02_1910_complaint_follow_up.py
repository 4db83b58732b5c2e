"""a complaint's follow-up in a conversation the brand already answered does not ask again

The default complaint templates an admin never changed (still version 1 with the body the first
migration wrote) follow up instead of greeting and asking for the order number again once the
brand has replied in the conversation (`already_replied`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name: (the body the first migration wrote, the body with the follow-up)
BODIES: dict[str, tuple[str, str]] = {
    "complaint-fr-public-vous": (
        (
            "Bonjour {{ first_name }}, nous sommes sincèrement désolés pour ce désagrément. "
            "Pouvez-vous nous écrire en message privé avec votre numéro de commande ou de dossier ? "
            "Nous regardons cela tout de suite. {{ signature }}"
        ),
        (
            "{% if already_replied %}Merci {{ first_name }} pour ces précisions, nous suivons votre "
            "dossier et revenons vers vous en message privé. {% else %}Bonjour {{ first_name }}, nous "
            "sommes sincèrement désolés pour ce désagrément. Pouvez-vous nous écrire en message privé "
            "avec votre numéro de commande ou de dossier ? Nous regardons cela tout de suite. {% endif "
            "%}{{ signature }}"
        ),
    ),
    "complaint-fr-public-tu": (
        (
            "Salut {{ first_name }}, désolés pour ce souci ! Écris-nous en privé avec ton numéro de "
            "commande ou de dossier, on regarde ça tout de suite. {{ signature }}"
        ),
        (
            "{% if already_replied %}Merci {{ first_name }} pour ces précisions, on suit ton dossier "
            "et on revient vers toi en privé. {% else %}Salut {{ first_name }}, désolés pour ce souci "
            "! Écris-nous en privé avec ton numéro de commande ou de dossier, on regarde ça tout de "
            "suite. {% endif %}{{ signature }}"
        ),
    ),
    "complaint-fr-private-vous": (
        (
            "Bonjour {{ first_name }}, merci de nous avoir écrit et toutes nos excuses pour ce "
            "désagrément. Pouvez-vous nous donner votre numéro de commande ou de dossier ? Nous nous "
            "en occupons en priorité. {{ signature }}"
        ),
        (
            "{% if already_replied %}Merci {{ first_name }} pour ces précisions, nous suivons votre "
            "dossier en priorité et revenons vers vous très vite. {% else %}Bonjour {{ first_name }}, "
            "merci de nous avoir écrit et toutes nos excuses pour ce désagrément. Pouvez-vous nous "
            "donner votre numéro de commande ou de dossier ? Nous nous en occupons en priorité. {% "
            "endif %}{{ signature }}"
        ),
    ),
    "complaint-fr-private-tu": (
        (
            "Salut {{ first_name }}, merci pour ton message et désolés pour ce souci. Tu peux nous "
            "donner ton numéro de commande ou de dossier ? On s'en occupe en priorité. {{ signature }}"
        ),
        (
            "{% if already_replied %}Merci {{ first_name }} pour ces précisions, on suit ton dossier "
            "en priorité et on revient vers toi très vite. {% else %}Salut {{ first_name }}, merci "
            "pour ton message et désolés pour ce souci. Tu peux nous donner ton numéro de commande ou "
            "de dossier ? On s'en occupe en priorité. {% endif %}{{ signature }}"
        ),
    ),
    "complaint-en-public": (
        (
            "Hi {{ first_name }}, we're really sorry about this. Could you send us a private message "
            "with your order or case number? We'll look into it right away. {{ signature }}"
        ),
        (
            "{% if already_replied %}Thanks {{ first_name }} for the details, we're following up on "
            "your case and will get back to you in a private message. {% else %}Hi {{ first_name }}, "
            "we're really sorry about this. Could you send us a private message with your order or "
            "case number? We'll look into it right away. {% endif %}{{ signature }}"
        ),
    ),
    "complaint-en-private": (
        (
            "Hi {{ first_name }}, thanks for reaching out, and we're sorry for the trouble. Could you "
            "share your order or case number? We'll make this a priority. {{ signature }}"
        ),
        (
            "{% if already_replied %}Thanks {{ first_name }} for the details, we're following up on "
            "your case as a priority and will get back to you shortly. {% else %}Hi {{ first_name }}, "
            "thanks for reaching out, and we're sorry for the trouble. Could you share your order or "
            "case number? We'll make this a priority. {% endif %}{{ signature }}"
        ),
    ),
}

templates = sa.table(
    "reply_templates",
    sa.column("name", sa.String),
    sa.column("body", sa.Text),
    sa.column("version", sa.Integer),
)


def _swap(index_from: int, index_to: int) -> None:
    for name, bodies in BODIES.items():
        op.execute(
            templates.update()
            .where(
                templates.c.name == name,
                templates.c.version == 1,
                templates.c.body == bodies[index_from],
            )
            .values(body=bodies[index_to])
        )


def upgrade() -> None:
    _swap(0, 1)


def downgrade() -> None:
    _swap(1, 0)
