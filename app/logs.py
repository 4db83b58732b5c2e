"""Logs a person can read: one line when the server is up, one access line per request, a warning
for each reply that could not be sent (app/outbox/sender.py), and nothing else unless it is wrong.

    INFO:     Relais on http://127.0.0.1:8000 · database sqlite:////srv/relais.db · model 20261202-…
    INFO:     127.0.0.1:53422 - "GET /drafts/12 HTTP/1.1" 200
    WARNING:  reply 7 (facebook, attempt 3) not sent: connection failed: ConnectError: ...; next try in 4 s

Access lines carry no body and no query string: a query can hold a secret (Meta's
`hub.verify_token`) and a customer's words (a search), so it shows as `?…`. The database URL is
shown without its password.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger("relais")


class AccessLine(logging.Formatter):
    """Uvicorn's access record as one plain line, its query string cut (it may hold a secret or
    a customer's words). Written for the webhook path, which logs every delivery: no copy of the
    record and no status phrase look-up, as uvicorn's own AccessFormatter does."""

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if not (isinstance(args, tuple) and len(args) == 5):
            return super().format(record)
        client, method, path, version, status = args
        if isinstance(path, str) and "?" in path:
            path = path.split("?", 1)[0] + "?…"
        return f'{record.levelname}:     {client} - "{method} {path} HTTP/{version}" {status}'


def uvicorn_config(level: str = "warning") -> dict[str, Any]:
    """Logging for `relais serve`: uvicorn's own lines from `level` up, access lines, Relais's INFO.

    No line shows where it was logged from or by which thread or process, so the records do not
    look these up (the logging HOWTO's "Optimization": one access line per delivery adds up)."""
    from uvicorn.config import LOGGING_CONFIG

    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"] = {"()": AccessLine}
    config["loggers"]["uvicorn.error"] = {"level": level.upper()}
    config["loggers"]["uvicorn.access"] = {"handlers": ["access"], "level": "INFO", "propagate": False}
    config["loggers"]["relais"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def database_shown(url: str) -> str:
    """The database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def started(*, url: str, database_url: str, models_dir: Path) -> None:
    """The one line that says the server is up, where, on which database, with which model."""
    from classifier import artifacts

    version = artifacts.current_version(models_dir) or "none (every message goes to sort)"
    log.info("Relais on %s · database %s · model %s", url, database_shown(database_url), version)
