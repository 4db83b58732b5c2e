"""The chaos suite: hostile input and faults against the running app, from its stable surfaces
(signed HTTP deliveries, the CLI, the database rows). Every test here is marked `chaos`.

Each test is bounded by a scale: `RELAIS_CHAOS_SCALE=short` (the default, what `make test` runs
in CI) or `long` (what `bench/reliability.py` runs). Each test records its figures with `figures`;
with RELAIS_CHAOS_REPORT=path they are appended there as JSON lines for the bench to print.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

LONG = os.environ.get("RELAIS_CHAOS_SCALE", "short") == "long"


def scaled(short: int, long: int) -> int:
    """`short` in CI and `make test`, `long` under bench/reliability.py."""
    return long if LONG else short


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.chaos)


# The slowest checks run on SQLite in the short run, on SQLite and PostgreSQL in the long one:
#     @pytest.mark.parametrize("database_url", DATABASES, indirect=True)
DATABASES = ["sqlite", "postgres"] if LONG else ["sqlite"]


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Callable[..., None]]:
    """Record the figures a test measured: figures(name="...", value=..., unit=...)."""
    recorded: list[dict[str, Any]] = []

    def record(**values: Any) -> None:
        recorded.append({"test": request.node.nodeid, **values})
        print(json.dumps(values, ensure_ascii=False))

    yield record
    path = os.environ.get("RELAIS_CHAOS_REPORT")
    if path and recorded:
        with open(path, "a", encoding="utf-8") as handle:
            for row in recorded:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
