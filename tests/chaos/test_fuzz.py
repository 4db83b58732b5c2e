"""A fuzzer over every platform parser, through the real app: authentic (correctly signed)
deliveries made from the platforms' own payloads with parts replaced by hostile values (huge or
out-of-range numbers, NUL, long strings, wrong types, deep nesting) or by arbitrary bytes. The
answer is 200, 400, 413 or 422, never a 500 (an unexpected exception) nor a 503 on SQLite.

Every crash found is kept in tests/chaos/corpus/ and replayed by test_crash_corpus."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import db
from app.config import Settings
from app.main import create_app
from tests.chaos.channels import CHANNELS
from tests.chaos.conftest import scaled
from tests.conftest import FIXTURES, make_settings

CASES = scaled(150, 5_000)
CORPUS = Path(__file__).parent / "corpus"
ACCEPTABLE = {200, 400, 413, 422}

FIXTURE_ROUTES = {
    "facebook_feed_comment.json": "meta",
    "facebook_feed_post_change.json": "meta",
    "messenger_delivery.json": "meta",
    "messenger_text.json": "meta",
    "whatsapp_status.json": "meta",
    "whatsapp_text_metadocs.json": "meta",
    "x_dm.json": "x",
    "x_activity_dm_received.json": "x",
    "x_tweet_create.json": "x",
    "telegram_message.json": "telegram",
    "slack_event.json": "slack",
    "slack_url_verification.json": "slack",
}


def seeds() -> dict[str, list[Any]]:
    """The payloads to start from, per channel: the platforms' real samples and our builders."""
    out: dict[str, list[Any]] = {
        name: [ch.build("1234", "Bonjour, ma commande ?")] for name, ch in CHANNELS.items()
    }
    for file, channel in FIXTURE_ROUTES.items():
        out[channel].append(json.loads((FIXTURES / file).read_text()))
    return out


SEEDS = seeds()
HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e30, -1e20, 1.5e308, 1e-300]),
    st.text(max_size=50),
    st.text(min_size=200, max_size=3000),
    st.sampled_from(["\u0000", "a\u0000b", "1e30", "-1e20", "inf", "nan", "", " ", "\ud83d\ude00" * 300]),
)
HOSTILE = st.recursive(
    HOSTILE_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=8,
)


def mutate(data: st.DataObject, node: Any) -> Any:
    """`node` with one part (itself, or something below it) replaced by a hostile value."""
    children: list[Any] = (
        list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
    )
    if not children or data.draw(st.integers(0, 3)) == 0:
        return data.draw(HOSTILE)
    key = data.draw(st.sampled_from(children))
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    copy[key] = mutate(data, node[key])
    return copy


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("fuzz") / "relais.db"
    url = f"sqlite:///{path}"
    db.upgrade(Settings(database_url=url))
    with TestClient(
        create_app(make_settings(url, models_dir=path.parent)), raise_server_exceptions=False
    ) as c:
        yield c


def post_signed(client: TestClient, channel: str, body: bytes) -> Any:
    ch = CHANNELS[channel]
    return client.post(ch.route, content=body, headers=ch.headers(ch.sign(body)))


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_hostile_authentic_payloads_never_crash_a_parser(
    app_client: TestClient, channel: str, figures: Callable[..., None]
) -> None:
    statuses: dict[int, int] = {}

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )
    @given(data=st.data(), mutations=st.integers(1, 3))
    def fuzz(data: st.DataObject, mutations: int) -> None:
        payload = data.draw(st.sampled_from(SEEDS[channel]))
        for _ in range(mutations):
            payload = mutate(data, payload)
        body = json.dumps(payload).encode()
        r = post_signed(app_client, channel, body)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code in ACCEPTABLE, (r.status_code, r.text[:500], body[:2000])

    fuzz()
    figures(name=f"parser fuzz ({channel})", cases=sum(statuses.values()), unexpected=0, statuses=statuses)


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_arbitrary_signed_bytes_never_crash_a_parser(app_client: TestClient, channel: str) -> None:
    @settings(
        max_examples=scaled(50, 2_000),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
    def fuzz(body: bytes) -> None:
        r = post_signed(app_client, channel, body)
        assert r.status_code in ACCEPTABLE, (r.status_code, r.text[:500], body)

    fuzz()


CRASHES = sorted(CORPUS.glob("*.json"))


@pytest.mark.parametrize("case", CRASHES, ids=[p.stem for p in CRASHES])
def test_crash_corpus(app_client: TestClient, case: Path) -> None:
    """Each delivery that once crashed a parser, replayed: now a 4xx or a 200."""
    entry = json.loads(case.read_text())
    body = entry["body"].encode() if isinstance(entry["body"], str) else json.dumps(entry["body"]).encode()
    r = post_signed(app_client, entry["channel"], body)
    assert r.status_code in ACCEPTABLE, (entry.get("why"), r.status_code, r.text[:500])
