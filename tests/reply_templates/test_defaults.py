"""Every default template reads correctly for every customer: with and without a first name, with
and without an order number, in both languages and both registers. French puts a no-break space
(U+00A0) before ? ! : ; English no space; nothing anywhere before , or ."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import create_engine, text

from app import db
from app.config import Settings
from app.reply_templates import rendering
from app.reply_templates import service as reply_templates
from app.reply_templates.defaults import DEFAULT_TEMPLATES
from tests.conftest import make_settings

MESSAGES = {
    # (language, with an order number): what the customer wrote
    ("fr", False): "Mon colis n'est toujours pas arrivé, vous pouvez regarder ?",
    ("fr", True): "Ma commande 45907 n'est toujours pas arrivée, vous pouvez regarder ?",
    ("en", False): "My parcel still hasn't arrived, can you check?",
    ("en", True): "My order 45907 still hasn't arrived, can you check?",
}
ASKS_FOR_ORDER = re.compile(r"num[ée]ro de commande|order or case number", re.IGNORECASE)
EMPTY_GREETING = re.compile(r"\b(Bonjour|Salut|Hi|Hello|Merci|Thanks|Thank you)[ \t]+[,.!?]")  # "Bonjour ,"
SPACE_BEFORE_COMMA = re.compile(r"\s[,.]")
FRENCH_WRONG_SPACE = re.compile(r"(?:[ \t\u202f]|(?<![\u00a0?!])(?<=\S))[?!:;](?=\s|$)")
ENGLISH_SPACE = re.compile(r"\s[?!:;]")
CASES = [
    (t, name, with_order)
    for t in DEFAULT_TEMPLATES
    for name in ("Camille Martin", None)
    for with_order in (True, False)
]
STRICT = SandboxedEnvironment(undefined=StrictUndefined)


def _id(case: tuple[tuple[str, ...], str | None, bool]) -> str:
    t, name, with_order = case
    return f"{t[0]}-{'name' if name else 'noname'}-{'order' if with_order else 'noorder'}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_every_default_reads_correctly(case: tuple[tuple[str, ...], str | None, bool]) -> None:
    (name, category, language, kind, register, body), author, with_order = case
    settings = Settings(_env_file=None, agent_signature="L'équipe Relais")
    customer = MESSAGES[(language, with_order)]
    channel = "facebook" if kind == "public" else "messenger"
    variables = rendering.variables_for(
        settings,
        author_name=author,
        text=customer,
        category=category,
        channel=channel,
        language=language,
        register=register if register != "any" else None,
    )
    STRICT.from_string(body).render(**variables)  # no variable a message does not provide
    reply = rendering.render(body, variables)
    assert reply and "{" not in reply and "}" not in reply, reply
    assert not EMPTY_GREETING.search(reply), reply
    assert not SPACE_BEFORE_COMMA.search(reply), reply
    assert "  " not in reply, reply
    if language == "fr":
        assert not FRENCH_WRONG_SPACE.search(reply), reply
    else:
        assert not ENGLISH_SPACE.search(reply), reply
    assert ("Camille" in reply) == bool(author), reply
    if with_order:
        assert not ASKS_FOR_ORDER.search(reply), reply
        if category in ("complaint", "question"):
            assert "45907" in reply, reply
    elif category == "complaint":
        assert ASKS_FOR_ORDER.search(reply), reply  # what is missing is asked for


def test_both_registers_in_french() -> None:
    registers = {(c, k, r) for _, c, lang, k, r, _ in DEFAULT_TEMPLATES if lang == "fr"}
    for category, kind, _ in registers:
        assert {(category, kind, "tu"), (category, kind, "vous")} <= registers


def test_the_editor_offers_the_details() -> None:
    known = reply_templates.known_variables(Settings(_env_file=None))
    assert {"order_number", "email", "phone", "amount", "date"} <= set(known)
    shown = reply_templates.preview(
        Settings(_env_file=None), "{{ order_number }} {{ commande }}", category="question", language="fr"
    )
    assert shown["text"].startswith("45907") and shown["unknown"] == ["commande"]
    reasons = reply_templates.unknown_variable_errors(Settings(_env_file=None), ["commande"])
    assert "order_number" in str(reasons[0])


def test_migration_brings_unchanged_defaults_up_to_date(tmp_path: Path) -> None:
    """A database made before: the defaults an admin never touched get the new bodies, the one
    an admin changed keeps its own."""
    database_url = f"sqlite:///{tmp_path / 'before.db'}"
    settings = make_settings(database_url)
    db.upgrade(settings, "0003")
    engine = create_engine(database_url)
    old = "Bonjour {{ first_name }}, merci pour votre message. {{ signature }}"
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE reply_templates SET body = :b WHERE name = 'question-fr-private-vous'"),
                {"b": old},
            )
            conn.execute(
                text(
                    "UPDATE reply_templates SET body = 'Bonjour !', version = 3 "
                    "WHERE name = 'other-fr-any-tu'"
                )
            )
        db.upgrade(settings)
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT name, body FROM reply_templates")).all())
    finally:
        engine.dispose()
    new = {n: b for n, *_, b in DEFAULT_TEMPLATES}
    assert rows["question-fr-private-vous"] == new["question-fr-private-vous"]
    assert rows["other-fr-any-tu"] == "Bonjour !"
