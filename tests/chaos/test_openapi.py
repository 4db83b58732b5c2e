"""schemathesis over /openapi.json, as a reviewer and as an admin: every operation of the API is
called with generated valid and invalid input; 0 server errors and 0 answers outside what the
document declares (status codes, schemas, headers, content types)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from app import db
from app.config import Settings
from app.main import create_app
from tests.chaos.conftest import LONG, scaled
from tests.conftest import deliver, make_settings, make_user

_names = itertools.count()

# A queue cursor is a token the server issued: no schema can tell a valid one from any other
# string, so a made-up one is a 400 ("invalid cursor") on data the document cannot refuse.
CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            {
                "include-path": "/api/drafts",
                "include-method": "GET",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]
                    }
                },
            }
        ]
    }
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("openapi") / "relais.db"
    url = f"sqlite:///{path}"
    db.upgrade(Settings(database_url=url))
    with TestClient(create_app(make_settings(url)), raise_server_exceptions=False) as client:
        for i in range(5):  # a few drafts, so that ids 1..5 exist
            deliver(client, f"9000_{i}", f"Vous livrez le dimanche ? ({i})")
        yield client


@pytest.fixture(scope="module")
def api_schema(api: TestClient) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", api.app, config=CONFIG).exclude(
        path_regex="^/webhooks/"
    )


def _summary(e: BaseException) -> str:
    """The checks that failed and the curl line reproducing one, from a schemathesis failure."""
    lines = str(e).splitlines()
    picked = [line.strip() for line in lines if line.strip().startswith(("- ST", "- Server error", "curl "))]
    return "; ".join(picked) or str(e)[:500]


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_the_api_answers_as_its_openapi_document_declares(
    api: TestClient, api_schema: Any, role: str, figures: Callable[..., None]
) -> None:
    failures: list[str] = []
    calls = 0
    for operation in operations(api_schema):

        @settings(
            max_examples=scaled(8, 150),
            # CI's short run is the same cases every time (a red build is a regression, not a
            # draw); the long run (bench/reliability.py) explores with fresh random cases
            derandomize=not LONG,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=make_user(api, f"{role}{next(_names)}", role))

        try:
            check()
        except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - report every operation
            failures.append(f"{operation.label}: {_summary(e)}")
    figures(
        name=f"schemathesis as {role}",
        operations=len(operations(api_schema)),
        calls=calls,
        failures=len(failures),
    )
    assert not failures, "\n\n".join(failures)
