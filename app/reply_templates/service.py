"""Reply templates for the admin: list, read, check, preview in the sandbox, create or change.

Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import Conflict, Invalid, NotFound
from app.i18n import N_, Reason
from app.models import CATEGORIES, Message, ReplyTemplate, utcnow
from app.reply_templates import rendering
from app.reply_templates.rendering import BODY_LIMIT

FIELDS = ("name", "category", "language", "channel_kind", "register", "body", "enabled")


def list_all(session: Session) -> list[ReplyTemplate]:
    """Every template, by category, language and name."""
    return list(
        session.scalars(
            select(ReplyTemplate).order_by(ReplyTemplate.category, ReplyTemplate.language, ReplyTemplate.name)
        )
    )


def get(session: Session, template_id: int) -> ReplyTemplate:
    template = session.get(ReplyTemplate, template_id)
    if template is None:
        raise NotFound(Reason(N_("template %(id)s not found"), {"id": template_id}))
    return template


# French names an admin may try for a variable, and the variable meant.
VARIABLE_ALIASES = {
    "prenom": "first_name",
    "nom": "author_name",
    "auteur": "author_name",
    "marque": "brand",
    "texte": "customer_text",
    "message": "customer_text",
    "canal": "channel",
    "langue": "language",
    "categorie": "category",
    "tutoiement": "register",
    "commande": "order_number",
    "numero_commande": "order_number",
    "num_commande": "order_number",
    "courriel": "email",
    "mail": "email",
    "telephone": "phone",
    "tel": "phone",
    "montant": "amount",
    "prix": "amount",
}


def unknown_variable_errors(settings: Settings, unknown: list[str]) -> list[Reason]:
    """One reason per unknown variable, with the known name meant when one is close."""
    known = known_variables(settings)
    reasons = []
    for name in unknown:
        meant = VARIABLE_ALIASES.get(name) or next(
            iter(difflib.get_close_matches(name, known, n=1, cutoff=0.6)), None
        )
        if meant in known:
            reasons.append(
                Reason(
                    N_("{{ %(name)s }} is not a variable (it renders as nothing): {{ %(meant)s }}?"),
                    {"name": name, "meant": meant},
                )
            )
        else:
            reasons.append(
                Reason(
                    N_("{{ %(name)s }} is not a variable (it renders as nothing). The variables: %(known)s."),
                    {"name": name, "known": ", ".join(known)},
                )
            )
    return reasons


def errors_in(values: dict[str, Any]) -> list[Reason]:
    """Every reason these template fields cannot be saved (empty when they can)."""
    reasons = []
    if not 1 <= len(values.get("name") or "") <= 100:
        reasons.append(Reason(N_("The name needs 1 to 100 characters.")))
    if values.get("category") not in CATEGORIES:
        reasons.append(Reason(N_("The category is one of %(choices)s."), {"choices": ", ".join(CATEGORIES)}))
    if not 2 <= len(values.get("language") or "") <= 8:
        reasons.append(Reason(N_("The language is a code such as fr or en.")))
    if values.get("channel_kind") not in ("public", "private", "any"):
        reasons.append(Reason(N_("The channel kind is public, private or any.")))
    if values.get("register") not in ("tu", "vous", "any"):
        reasons.append(Reason(N_("The register is tu, vous or any.")))
    if not 1 <= len(values.get("body") or "") <= BODY_LIMIT:
        reasons.append(Reason(N_("The body needs 1 to %(max)s characters."), {"max": BODY_LIMIT}))
    return reasons


def render_errors(settings: Settings, shown: dict[str, Any]) -> list[Reason]:
    """Why a previewed body cannot be saved: it does not render, or it reads unknown variables."""
    reasons = []
    if not shown["ok"]:
        reasons.append(Reason(N_("The template does not render: %(error)s"), {"error": shown["error"]}))
    reasons.extend(unknown_variable_errors(settings, shown["unknown"]))
    return reasons


# The sample message a template is previewed with when no real message is given: one of its own
# category and language (a question template answers a question), written by a named customer.
SAMPLE_AUTHOR = "Camille Martin"
SAMPLES = {
    ("question", "fr"): "Bonjour, vous livrez le dimanche ? Ma commande 45907 n'est pas encore partie.",
    ("complaint", "fr"): "Bonjour, mon colis est arrivé abîmé, vous pouvez m'aider ?",
    ("suggestion", "fr"): "Ce serait bien de pouvoir choisir le créneau de livraison.",
    ("other", "fr"): "Merci pour la livraison rapide, au top !",
    ("question", "en"): "Hi, do you deliver on Sundays? My order 45907 has not shipped yet.",
    ("complaint", "en"): "Hi, my parcel arrived damaged, can you help me?",
    ("suggestion", "en"): "It would be great to choose the delivery slot.",
    ("other", "en"): "Thanks for the fast delivery, great job!",
}
# The channel a sample message stands for, by the template's channel kind: its length limit is the
# one the message page applies to a real message of that channel.
SAMPLE_CHANNELS = {"public": "facebook", "private": "messenger", "any": "messenger"}
CHANNELS_OF_KIND = {
    "public": ("facebook", "instagram", "x"),
    "private": ("messenger", "instagram", "whatsapp", "telegram", "slack"),
}


def known_variables(settings: Settings) -> list[str]:
    """The names a template may use: the variables every message is rendered with."""
    return sorted(
        rendering.variables_for(
            settings, author_name=None, text="", category=None, channel="facebook", language="fr"
        )
    )


def unknown_variables(settings: Settings, body: str) -> list[str]:
    """Names the body reads that no message provides (a misspelt `{{ prenom }}` renders as nothing);
    empty when the body does not parse (the render error says why)."""
    try:
        used = rendering.variables_read(body)
    except Exception:
        return []
    return sorted(used - set(known_variables(settings)))


def preview(
    settings: Settings,
    body: str,
    message: Message | None = None,
    *,
    category: str | None = None,
    language: str | None = None,
    channel_kind: str | None = None,
) -> dict[str, Any]:
    """Render a template body in the sandbox, for a real message or else a sample message of the
    template's category, language and channel kind. Besides the text: its length against the
    channel's limit (the one the message page applies), the channels of that kind it is too long
    for, and the unknown variables it reads."""
    if message is not None:
        channel, kind = message.channel, None
        author, text = message.author_name, message.text
        category, language = message.category, message.language or "en"
    else:
        category = category if category in CATEGORIES else "complaint"
        language = language if language in rendering.TEMPLATE_LANGUAGES else "fr"
        kind = channel_kind if channel_kind in SAMPLE_CHANNELS else "any"
        channel = SAMPLE_CHANNELS[kind]
        author, text = SAMPLE_AUTHOR, SAMPLES[(category, language)]
    variables = rendering.variables_for(
        settings, author_name=author, text=text, category=category, channel=channel, language=language
    )
    unknown = unknown_variables(settings, body)
    try:
        rendered = rendering.render(body, variables)
    except Exception as e:  # any template error is shown to the admin, never raised
        return {"ok": False, "error": f"{e.__class__.__name__}: {e}"[:500], "text": "", "unknown": unknown}
    limit = rendering.length_limit(channel)
    candidates = (channel,) if kind is None else CHANNELS_OF_KIND.get(kind, tuple(rendering.LENGTH_LIMITS))
    return {
        "ok": True,
        "text": rendered,
        "sample": text if message is None else None,
        "channel": channel,
        "length": len(rendered),
        "limit": limit,
        "too_long": len(rendered) > limit,
        "too_long_for": [c for c in candidates if len(rendered) > rendering.length_limit(c)],
        "unknown": unknown,
        "error": None,
    }


def options_for(
    session: Session,
    settings: Settings,
    message: Message,
    *,
    conversation: rendering.Conversation = rendering.NO_CONVERSATION,
) -> list[dict[str, Any]]:
    """Every enabled template rendered for this message (in its `conversation`), to offer in the
    editor: its language first, then its category; each as {"t": template, "text": its reply}."""
    rows = session.scalars(
        select(ReplyTemplate)
        .where(ReplyTemplate.enabled.is_(True))
        .order_by(ReplyTemplate.category, ReplyTemplate.name)
    )
    lang = message.language if message.language in rendering.TEMPLATE_LANGUAGES else "en"
    ordered = sorted(rows, key=lambda t: (t.language != lang, t.category != (message.category or ""), t.name))
    variables = rendering.message_variables(settings, message, conversation)
    return [
        {
            "t": t,
            "text": rendering.render_reply(
                t.body, variables, channel=message.channel, cache_key=(t.id, t.version)
            ),
        }
        for t in ordered
    ]


def save(
    session: Session,
    settings: Settings,
    *,
    template: ReplyTemplate | None,
    values: dict[str, Any],
    user_id: int,
    expected_version: int | None = None,
) -> ReplyTemplate:
    """Create (`template` None) or change a reply template: validated, rendered once in the
    sandbox, its version moved on. Invalid (422) or Conflict (409) otherwise."""
    merged: dict[str, Any] = (
        {k: getattr(template, k) for k in FIELDS} if template is not None else {"enabled": True}
    )
    merged.update({k: v for k, v in values.items() if k in FIELDS})
    errors = errors_in(merged)
    body = merged.get("body")
    if isinstance(body, str) and body:
        shown = preview(
            settings,
            body,
            category=merged.get("category"),
            language=merged.get("language"),
            channel_kind=merged.get("channel_kind"),
        )
        errors.extend(render_errors(settings, shown))
    if errors:
        english = [str(r) for r in errors]
        raise Invalid(" ".join(english), detail={"errors": english}, reasons=errors)
    clash = session.scalar(select(ReplyTemplate.id).where(ReplyTemplate.name == merged["name"]))
    if clash is not None and (template is None or clash != template.id):
        taken = Reason(N_("A template named “%(name)s” exists."), {"name": merged["name"]})
        raise Conflict(taken)
    if template is not None and expected_version is not None and template.version != expected_version:
        stale = Reason(
            N_("Someone changed this template meanwhile: reload it, then apply your change again.")
        )
        raise Conflict(stale, detail={"version": template.version})
    if template is None:
        template = ReplyTemplate(version=0)
        session.add(template)
    for k in FIELDS:
        setattr(template, k, merged[k])
    template.version += 1
    template.updated_by, template.updated_at = user_id, utcnow()
    session.flush()
    return template
