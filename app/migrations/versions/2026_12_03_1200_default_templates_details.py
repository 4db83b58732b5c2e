"""default reply templates read well without a name and name the order the customer gave

The defaults an admin never changed (still version 1 with the body the first migration wrote) are
brought up to date: no "Bonjour ," without a first name, no question for an order number the
customer gave, a no-break space before ? ! : ; in French.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.reply_templates.defaults import DEFAULT_TEMPLATES

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the bodies the first migration wrote, by template name
FIRST_BODIES: dict[str, str] = {
    "complaint-en-private": "Hi {{ first_name }}, thanks for reaching out, and we're sorry for the "
    "trouble. Could you share your order or case number? We'll make this a "
    "priority. {{ signature }}",
    "complaint-en-public": "Hi {{ first_name }}, we're really sorry about this. Could you send us "
    "a private message with your order or case number? We'll look into it "
    "right away. {{ signature }}",
    "complaint-fr-private-tu": "Salut {{ first_name }}, merci pour ton message et désolés pour ce "
    "souci. Tu peux nous donner ton numéro de commande ou de dossier ? "
    "On s'en occupe en priorité. {{ signature }}",
    "complaint-fr-private-vous": "Bonjour {{ first_name }}, merci de nous avoir écrit et toutes "
    "nos excuses pour ce désagrément. Pouvez-vous nous donner votre "
    "numéro de commande ou de dossier ? Nous nous en occupons en "
    "priorité. {{ signature }}",
    "complaint-fr-public-tu": "Salut {{ first_name }}, désolés pour ce souci ! Écris-nous en privé "
    "avec ton numéro de commande ou de dossier, on regarde ça tout de "
    "suite. {{ signature }}",
    "complaint-fr-public-vous": "Bonjour {{ first_name }}, nous sommes sincèrement désolés pour ce "
    "désagrément. Pouvez-vous nous écrire en message privé avec votre "
    "numéro de commande ou de dossier ? Nous regardons cela tout de "
    "suite. {{ signature }}",
    "other-en-any": "Thank you {{ first_name }}! {{ signature }}",
    "other-fr-any-tu": "Merci {{ first_name }} ! {{ signature }}",
    "other-fr-any-vous": "Merci beaucoup {{ first_name }} ! {{ signature }}",
    "question-en-private": "Hi {{ first_name }}, thanks for your message. {{ signature }}",
    "question-en-public": "Hi {{ first_name }}, thanks for your question! We'll reply in a private "
    "message with all the details. {{ signature }}",
    "question-fr-private-tu": "Salut {{ first_name }}, merci pour ton message. {{ signature }}",
    "question-fr-private-vous": "Bonjour {{ first_name }}, merci pour votre message. {{ signature }}",
    "question-fr-public-tu": "Salut {{ first_name }}, merci pour ta question ! On te répond en "
    "message privé avec tous les détails. {{ signature }}",
    "question-fr-public-vous": "Bonjour {{ first_name }}, merci pour votre question ! Nous vous "
    "répondons en message privé avec tous les détails. {{ signature }}",
    "suggestion-en-any": "Thanks {{ first_name }} for the idea! We're passing it on to the team. "
    "{{ signature }}",
    "suggestion-fr-any-tu": "Merci {{ first_name }} pour l'idée ! On la transmet à l'équipe. {{ signature }}",
    "suggestion-fr-any-vous": "Merci {{ first_name }} pour cette idée ! Nous la transmettons à "
    "l'équipe concernée. {{ signature }}",
}

templates = sa.table(
    "reply_templates",
    sa.column("name", sa.String),
    sa.column("body", sa.Text),
    sa.column("version", sa.Integer),
)


def _swap(pairs: dict[str, tuple[str, str]], version: int, to_version: int) -> None:
    for name, (before, after) in pairs.items():
        op.execute(
            templates.update()
            .where(templates.c.name == name, templates.c.version == version, templates.c.body == before)
            .values(body=after, version=to_version)
        )


def upgrade() -> None:
    new = {n: b for n, _c, _l, _k, _r, b in DEFAULT_TEMPLATES}
    _swap({n: (FIRST_BODIES[n], new[n]) for n in FIRST_BODIES if n in new}, 1, 2)


def downgrade() -> None:
    new = {n: b for n, _c, _l, _k, _r, b in DEFAULT_TEMPLATES}
    _swap({n: (new[n], FIRST_BODIES[n]) for n in FIRST_BODIES if n in new}, 2, 1)
