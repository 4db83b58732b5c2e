"""Login throttling (defect 5 of issue 20): it slows the client address that guesses, never the
reviewer behind another address; one address guessing across many usernames is limited too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.main import create_app
from app.models import LoginFailure
from tests.conftest import make_settings
from tests.web.conftest import db, login, make_user


@pytest.fixture
def app_client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(database_url, models_dir=tmp_path, login_max_failures_per_address=20)
    with TestClient(create_app(settings), client=("198.51.100.7", 40000)) as c:
        yield c


def from_address(client: TestClient, address: str) -> TestClient:
    """Another browser, at another address, on the same running app (its lifespan already ran)."""
    return TestClient(client.app, client=(address, 40001))


def test_wrong_passwords_from_an_attacker_do_not_lock_the_reviewer_out(app_client: TestClient) -> None:
    make_user(app_client)
    attacker = from_address(app_client, "203.0.113.66")
    for _ in range(5):
        assert login(attacker, password="wrong password").status_code == 401
    refused = login(attacker, password="still wrong")
    assert refused.status_code == 429 and "Too many failed attempts" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    # the reviewer, from her own address, logs in at once with the right password
    r = login(app_client, follow=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    # and the attacker is still refused, even with the right password
    assert login(attacker).status_code == 429


def test_one_address_trying_many_usernames_is_limited(app_client: TestClient) -> None:
    make_user(app_client)
    attacker = from_address(app_client, "203.0.113.99")
    statuses = [login(attacker, name=f"user{i}", password="wrong password").status_code for i in range(30)]
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}
    r = login(attacker, name="camille", password="another guess")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert login(app_client, follow=False).status_code == 303  # others are not concerned


def test_the_wait_doubles_with_each_failure_past_the_limit(app_client: TestClient) -> None:
    make_user(app_client)
    attacker = from_address(app_client, "203.0.113.5")
    waits = []
    for _ in range(4):
        while True:
            r = login(attacker, password="wrong password")
            if r.status_code == 429:
                waits.append(int(r.headers["Retry-After"]))
                break
        # let the wait elapse by ageing the recorded failures
        with db(app_client) as session:
            for failure in session.scalars(select(LoginFailure)):
                failure.at -= dt.timedelta(seconds=waits[-1] + 1)
            session.commit()
    assert waits[0] == 15 and waits[1] in (29, 30) and waits[2] in (59, 60) and waits[3] in (119, 120)


def test_a_successful_login_forgets_only_that_address_failures(app_client: TestClient) -> None:
    make_user(app_client)
    attacker = from_address(app_client, "203.0.113.8")
    for _ in range(4):
        assert login(attacker, password="wrong password").status_code == 401
    for _ in range(4):
        assert login(app_client, password="typo password").status_code == 401
    assert login(app_client, follow=False).status_code == 303
    assert login(attacker, password="wrong password").status_code == 401  # its 5th failure
    assert login(attacker).status_code == 429  # counted from its own four, not reset by hers
