"""Multi-row `INSERT .. ON CONFLICT DO NOTHING RETURNING ..` for the intake hot path.

SQLAlchemy's generic bulk insert spends most of its time processing parameters row by row. Intake
inserts thousands of rows a second into three tables, so for those statements only we hand the
values straight to the driver, converting each as SQLAlchemy would store it (same text format for
SQLite datetimes, JSON as text). Reads still go through the ORM and see the same values.

- SQLite: one multi-row `VALUES (?, ..), (?, ..)` statement per chunk, a flat parameter list.
- PostgreSQL: `INSERT .. SELECT * FROM unnest(%b::type[], ..)`, one binary array per column. The
  statement text is the same whatever the number of rows, so psycopg parses it once and the server
  prepares it once; a VALUES list of 16 rows x 23 columns was parsed again by psycopg on every
  call (about 0.8 ms, more than the server's own work).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Connection, LargeBinary, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

from app.models import UTCDateTime

Converter = Callable[[Any], Any]
SQLITE_MAX_PARAMS = 30_000  # bound parameters per statement (SQLite's limit is 32,766)


_datetimes: dict[dt.datetime, str] = {}


def _sqlite_datetime(value: dt.datetime | None) -> str | None:
    """The text SQLAlchemy stores for a SQLite DATETIME (always with microseconds), for UTC."""
    if value is None:
        return None
    text = _datetimes.get(value)  # a batch repeats the same few instants ("now") many times
    if text is None:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        text = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if len(_datetimes) > 4096:
            _datetimes.clear()
        _datetimes[value] = text
    return text


def _sqlite_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _pg_json(value: Any) -> Any:
    return None if value is None else orjson.dumps(value).decode()  # text, cast to json[] in SQL


def _bool(value: Any) -> Any:
    return None if value is None else int(bool(value))


def _identity(value: Any) -> Any:
    return value


def _converter(column_type: Any, dialect: str) -> Converter:
    if isinstance(column_type, TypeDecorator) and not isinstance(column_type, UTCDateTime):
        column_type = column_type.impl
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime if dialect == "sqlite" else _identity
    if isinstance(column_type, JSON):
        return _sqlite_json if dialect == "sqlite" else _pg_json
    if isinstance(column_type, Boolean):
        return _bool if dialect == "sqlite" else _identity
    if isinstance(column_type, LargeBinary):
        return _identity
    return _identity


class BulkInsert:
    """`INSERT INTO table (columns) VALUES (...), (...) ON CONFLICT DO NOTHING RETURNING ...`."""

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        *,
        returning: Sequence[str] = (),
        ignore_conflicts: bool = True,
    ):
        self.table = table
        self.columns = list(columns)
        self.returning = list(returning)
        self.ignore_conflicts = ignore_conflicts
        self._converters: dict[str, list[Converter]] = {}
        self._pg_sql: str | None = None

    def _prepare(self, dialect: str) -> list[Converter]:
        conv = self._converters.get(dialect)
        if conv is None:
            conv = [_converter(self.table.c[name].type, dialect) for name in self.columns]
            self._converters[dialect] = conv
        return conv

    def _tail(self) -> str:
        tail = " ON CONFLICT DO NOTHING" if self.ignore_conflicts else ""
        if self.returning:
            tail += " RETURNING " + ",".join(self.returning)
        return tail

    def _unnest_sql(self) -> str:
        """The PostgreSQL statement: one array parameter per column, cast to the column's type
        (without its length: an explicit cast to varchar(n) would cut a long value silently, the
        insert itself refuses it)."""
        sql = self._pg_sql
        if sql is None:
            pg = postgresql.dialect()
            casts = [
                "%b::" + re.sub(r"\(\d+\)", "", self.table.c[name].type.compile(dialect=pg)) + "[]"
                for name in self.columns
            ]
            sql = self._pg_sql = (
                f"INSERT INTO {self.table.name} ({','.join(self.columns)}) "
                f"SELECT * FROM unnest({','.join(casts)})" + self._tail()
            )
        return sql

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Insert `rows` (dicts with every column); returns the RETURNING rows of those inserted."""
        if not rows:
            return []
        dialect = conn.dialect.name
        if dialect == "postgresql":
            return self._run_unnest(conn, rows)
        converters = self._prepare(dialect)
        one = "(" + ",".join(["?"] * len(self.columns)) + ")"
        head = f"INSERT INTO {self.table.name} ({','.join(self.columns)}) VALUES "
        tail = self._tail()
        per_chunk = max(1, SQLITE_MAX_PARAMS // len(self.columns))
        out: list[tuple[Any, ...]] = []
        values = itemgetter(*self.columns) if len(self.columns) > 1 else (lambda row: (row[self.columns[0]],))
        # most columns go to the driver as they are: convert only the others
        converted = [(i, c) for i, c in enumerate(converters) if c is not _identity]
        for start in range(0, len(rows), per_chunk):
            chunk = rows[start : start + per_chunk]
            params: list[Any] = []
            for row in chunk:
                row_values = list(values(row))
                for i, c in converted:
                    row_values[i] = c(row_values[i])
                params.extend(row_values)
            result = conn.exec_driver_sql(head + ",".join([one] * len(chunk)) + tail, tuple(params))
            if self.returning:
                out.extend(tuple(r) for r in result.fetchall())
        return out

    def _run_unnest(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        arrays = []
        for name, convert in zip(self.columns, self._prepare("postgresql"), strict=True):
            if convert is _identity:
                arrays.append([row[name] for row in rows])
            else:
                arrays.append([convert(row[name]) for row in rows])
        # binary parameters: psycopg dumps arrays in text format element by element in Python,
        # with a regular expression escaping each value; the binary format needs no escaping
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self._unnest_sql(), arrays, binary=True)
            return [tuple(r) for r in cursor.fetchall()] if self.returning else []
        finally:
            cursor.close()
