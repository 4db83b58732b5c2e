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
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Connection, LargeBinary, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
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


def _driver_execute(conn: Connection, sql: str, params: Sequence[Any], *, fetch: bool) -> list[Any]:
    """Run `sql` on the driver's own cursor (psycopg binary parameters), with the driver's errors
    raised as SQLAlchemy raises them (DBAPIError, OperationalError...), the connection
    invalidated if it was lost: callers tell an outage from a bad batch the same way on every
    path."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall() if fetch else []
    except conn.dialect.loaded_dbapi.Error as e:
        lost = conn.dialect.is_disconnect(e, conn.connection.dbapi_connection, cursor)
        if lost:
            conn.invalidate(e)
        raise DBAPIError.instance(
            sql,
            None,
            e,
            conn.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from e
    finally:
        cursor.close()


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

    def casts(self, columns: Sequence[str]) -> list[str]:
        """One `%b::type[]` array parameter per column, cast to the column's PostgreSQL type
        (without its length: an explicit cast to varchar(n) would cut a long value silently, the
        insert itself refuses it)."""
        pg: Any = postgresql.dialect()  # type: ignore[no-untyped-call]
        return [
            "%b::" + re.sub(r"\(\d+\)", "", self.table.c[name].type.compile(dialect=pg)) + "[]"
            for name in columns
        ]

    def arrays(
        self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
    ) -> list[list[Any]]:
        """The column arrays of `rows` for PostgreSQL (converted as SQLAlchemy would store them)."""
        convert = dict(zip(self.columns, self._prepare("postgresql"), strict=True))
        out = []
        for name in columns if columns is not None else self.columns:
            c = convert[name]
            out.append([row[name] for row in rows] if c is _identity else [c(row[name]) for row in rows])
        return out

    def _unnest_sql(self) -> str:
        """The PostgreSQL statement: one array parameter per column."""
        sql = self._pg_sql
        if sql is None:
            sql = self._pg_sql = (
                f"INSERT INTO {self.table.name} ({','.join(self.columns)}) "
                f"SELECT * FROM unnest({','.join(self.casts(self.columns))})" + self._tail()
            )
        return sql

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
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

    def _run_unnest(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        # binary parameters: psycopg dumps arrays in text format element by element in Python,
        # with a regular expression escaping each value; the binary format needs no escaping
        rows_back = _driver_execute(conn, self._unnest_sql(), self.arrays(rows), fetch=bool(self.returning))
        return [tuple(r) for r in rows_back]


class ChainedInsert:
    """PostgreSQL: parent rows, the child rows of the parents that were inserted, and the
    grandchild rows of the children that were inserted, in ONE statement (data-modifying CTEs).

        WITH p AS (INSERT INTO parents .. SELECT * FROM unnest(..) ON CONFLICT DO NOTHING RETURNING ..),
             c AS (INSERT INTO children (.., parent_fk) SELECT .., p.id FROM unnest(..) AS ci(..)
                   JOIN p ON p.key = ci.key ON CONFLICT DO NOTHING RETURNING ..),
             g AS (INSERT INTO grandchildren (.., child_fk) SELECT .., c.id FROM unnest(..) AS gi(..)
                   JOIN c ON c.key = gi.key)
        SELECT <parents' RETURNING> UNION ALL SELECT <children's RETURNING>

    Run in autocommit, the statement is its own transaction: one round trip to the server where
    BEGIN, three INSERTs and COMMIT took five, each a wake-up of the server and of the client
    (under a burst about 0.5 ms of client and server CPU per batch). A child row whose parent
    was not inserted (a conflict) is left out, as is a grandchild whose child was not.

    Each insert's first `returning` column is the new row's id; the others are its key. `run`
    takes, beside each child row, its parent's key values (in that order), and beside each
    grandchild row its child's.
    """

    def __init__(
        self,
        parents: BulkInsert,
        children: BulkInsert,
        grandchildren: BulkInsert,
        *,
        child_fk: str,
        grandchild_fk: str,
    ):
        self.inserts = (parents, children, grandchildren)
        self.child_fk, self.grandchild_fk = child_fk, grandchild_fk
        self.parent_key = parents.returning[1:]
        self.child_key = children.returning[1:]
        self.child_columns = [c for c in children.columns if c != child_fk]
        self.grandchild_columns = [c for c in grandchildren.columns if c != grandchild_fk]
        self._sql: str | None = None

    def sql(self) -> str:
        if self._sql is None:
            parents, children, grandchildren = self.inserts
            child_in = parents.casts(self.parent_key) + children.casts(self.child_columns)
            grandchild_in = children.casts(self.child_key) + grandchildren.casts(self.grandchild_columns)
            ci = [f"k{i}" for i in range(len(self.parent_key))] + [
                f"c{i}" for i in range(len(self.child_columns))
            ]
            gi = [f"k{i}" for i in range(len(self.child_key))] + [
                f"c{i}" for i in range(len(self.grandchild_columns))
            ]
            child_values = ",".join(f"ci.c{i}" for i in range(len(self.child_columns)))
            grandchild_values = ",".join(f"gi.c{i}" for i in range(len(self.grandchild_columns)))
            parent_join = " AND ".join(f"p.{k} = ci.k{i}" for i, k in enumerate(self.parent_key))
            child_join = " AND ".join(f"c.{k} = gi.k{i}" for i, k in enumerate(self.child_key))
            width = max(len(parents.returning), len(children.returning))

            def returned(alias: str, names: list[str], tag: int) -> str:
                """tag, id, the key as text, padded with NULLs to the widest RETURNING."""
                key = [f"{alias}.{n}::text" for n in names[1:]] + ["NULL::text"] * (width - len(names))
                return ", ".join([str(tag), f"{alias}.{names[0]}", *key])

            self._sql = (
                f"WITH p AS ({parents._unnest_sql()}), "
                f"c AS (INSERT INTO {children.table.name} ({','.join(self.child_columns)},{self.child_fk}) "
                f"SELECT {child_values}, p.id FROM unnest({','.join(child_in)}) AS ci({','.join(ci)}) "
                f"JOIN p ON {parent_join}{children._tail()}), "
                f"g AS (INSERT INTO {grandchildren.table.name} "
                f"({','.join(self.grandchild_columns)},{self.grandchild_fk}) "
                f"SELECT {grandchild_values}, c.id "
                f"FROM unnest({','.join(grandchild_in)}) AS gi({','.join(gi)}) "
                f"JOIN c ON {child_join}{grandchildren._tail()}) "
                f"SELECT {returned('p', parents.returning, 0)} FROM p "
                f"UNION ALL SELECT {returned('c', children.returning, 1)} FROM c"
            )
        return self._sql

    def run(
        self,
        conn: Connection,
        parent_rows: Sequence[Mapping[str, Any]],
        child_rows: Sequence[Mapping[str, Any]],
        child_parent_keys: Sequence[tuple[Any, ...]],
        grandchild_rows: Sequence[Mapping[str, Any]],
        grandchild_child_keys: Sequence[tuple[Any, ...]],
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """(parents' RETURNING rows, children's RETURNING rows) of the rows inserted."""
        parents, children, grandchildren = self.inserts

        def key_arrays(keys: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
            """One array per key column (empty arrays when there are no rows)."""
            return [list(column) for column in zip(*keys, strict=True)] or [[] for _ in range(width)]

        params = [
            *parents.arrays(parent_rows),
            *key_arrays(child_parent_keys, len(self.parent_key)),
            *children.arrays(child_rows, self.child_columns),
            *key_arrays(grandchild_child_keys, len(self.child_key)),
            *grandchildren.arrays(grandchild_rows, self.grandchild_columns),
        ]
        rows = _driver_execute(conn, self.sql(), params, fetch=True)
        n_parent, n_child = len(parents.returning), len(children.returning)
        return (
            [tuple(r[1 : 1 + n_parent]) for r in rows if r[0] == 0],
            [tuple(r[1 : 1 + n_child]) for r in rows if r[0] == 1],
        )
