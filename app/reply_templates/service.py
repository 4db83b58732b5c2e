"""Reply templates for the admin: list, read, check, preview in the sandbox, create or change.

Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import Conflict, Invalid, NotFound
from app.models import CATEGORIES, Message, ReplyTemplate, utcnow
from app.reply_templates import rendering

FIELDS = ("name", "category", "language", "channel_kind", "register", "body", "enabled")
SAMPLE_TEXT = "Bonjour, mon colis est arrivé abîmé, vous pouvez m'aider ?"


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
        raise NotFound(f"template {template_id} not found")
    return template


def errors_in(values: dict[str, Any]) -> list[str]:
    """Every reason these template fields cannot be saved (empty when they can)."""
    errors = []
    if not 1 <= len(values.get("name") or "") <= 100:
        errors.append("The name needs 1 to 100 characters.")
    if values.get("category") not in CATEGORIES:
        errors.append(f"The category is one of {', '.join(CATEGORIES)}.")
    if not 2 <= len(values.get("language") or "") <= 8:
        errors.append("The language is a code such as fr or en.")
    if values.get("channel_kind") not in ("public", "private", "any"):
        errors.append("The channel kind is public, private or any.")
    if values.get("register") not in ("tu", "vous", "any"):
        errors.append("The register is tu, vous or any.")
    if not 1 <= len(values.get("body") or "") <= 5000:
        errors.append("The body needs 1 to 5000 characters.")
    return errors


def preview(settings: Settings, body: str, message: Message | None = None) -> dict[str, Any]:
    """Render a template body in the sandbox, for a real message or a sample complaint."""
    channel = message.channel if message is not None else "facebook"
    variables = rendering.variables_for(
        settings,
        author_name=message.author_name if message is not None else "Camille Martin",
        text=message.text if message is not None else SAMPLE_TEXT,
        category=message.category if message is not None else "complaint",
        channel=channel,
        language=(message.language if message is not None else "fr") or "en",
    )
    try:
        rendered = rendering.render(body, variables)
    except Exception as e:  # any template error is shown to the admin, never raised
        return {"ok": False, "error": f"{e.__class__.__name__}: {e}"[:500], "text": ""}
    limit = rendering.length_limit(channel)
    return {
        "ok": True,
        "text": rendered,
        "length": len(rendered),
        "limit": limit,
        "too_long": len(rendered) > limit,
        "error": None,
    }


def options_for(session: Session, settings: Settings, message: Message) -> list[dict[str, Any]]:
    """Every enabled template rendered for this message, to offer in the editor: its language
    first, then its category; each as {"t": template, "text": its reply}."""
    rows = session.scalars(
        select(ReplyTemplate)
        .where(ReplyTemplate.enabled.is_(True))
        .order_by(ReplyTemplate.category, ReplyTemplate.name)
    )
    lang = message.language if message.language in rendering.TEMPLATE_LANGUAGES else "en"
    ordered = sorted(rows, key=lambda t: (t.language != lang, t.category != (message.category or ""), t.name))
    variables = rendering.variables_for(
        settings,
        author_name=message.author_name,
        text=message.text,
        category=message.category,
        channel=message.channel,
        language=message.language,
    )
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
    merged = {k: getattr(template, k) for k in FIELDS} if template is not None else {"enabled": True}
    merged.update({k: v for k, v in values.items() if k in FIELDS})
    errors = errors_in(merged)
    body = merged.get("body")
    shown = preview(settings, body if isinstance(body, str) else "")
    if body and not shown["ok"]:
        errors.append(f"The template does not render: {shown['error']}")
    if errors:
        raise Invalid(" ".join(errors), detail={"errors": errors})
    clash = session.scalar(select(ReplyTemplate.id).where(ReplyTemplate.name == merged["name"]))
    if clash is not None and (template is None or clash != template.id):
        raise Conflict(f"A template named {merged['name']!r} exists.")
    if template is not None and expected_version is not None and template.version != expected_version:
        raise Conflict(
            "Someone changed this template meanwhile: reload it, then apply your change again.",
            detail={"version": template.version},
        )
    if template is None:
        template = ReplyTemplate(version=0)
        session.add(template)
    for k in FIELDS:
        setattr(template, k, merged[k])
    template.version += 1
    template.updated_by, template.updated_at = user_id, utcnow()
    session.flush()
    return template
