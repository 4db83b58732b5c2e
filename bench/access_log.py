"""What one access line costs `relais serve` (it logs every webhook delivery): Relais's logging
(app/logs.py) against uvicorn's own configuration, written to /dev/null.

    .venv/bin/python bench/access_log.py
"""

from __future__ import annotations

import copy
import logging
import logging.config
import os
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvicorn.config import LOGGING_CONFIG  # noqa: E402

from app import logs  # noqa: E402


def per_line(config: dict[str, Any], n: int = 20_000) -> float:
    """Microseconds per access line under this logging configuration (best of 5)."""
    config = copy.deepcopy(config)
    config["handlers"]["access"]["stream"] = open(os.devnull, "w")  # noqa: SIM115
    logging.config.dictConfig(config)
    log = logging.getLogger("uvicorn.access")
    args = ("127.0.0.1:53422", "POST", "/webhooks/meta", "1.1", 200)
    best = min(timeit.repeat(lambda: log.info('%s - "%s %s HTTP/%s" %d', *args), number=n, repeat=5))
    return best / n * 1e6


def main() -> None:
    uvicorn_us = per_line(LOGGING_CONFIG)
    relais_us = per_line(logs.uvicorn_config())  # after uvicorn's: it also turns off caller look-ups
    print(f"uvicorn's access formatter  {uvicorn_us:6.2f} us per line")
    print(f"relais (app/logs.py)        {relais_us:6.2f} us per line")


if __name__ == "__main__":
    main()
