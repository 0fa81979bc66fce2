"""Hrana over HTTP: the libSQL remote protocol's requests, run on one stream's connection.

Values travel typed, as the protocol says: ``{"type": "integer", "value": "42"}``
(integers as strings, 64-bit), ``float`` as a JSON number, ``text``, ``blob`` in base64,
``null``. Every failure a client can cause becomes a ``ProtocolError`` (the request's
error in a pipeline, an HTTP 4xx for the whole body), never an exception of ours.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.sqlapi.surface import Authorizer
from apps.tenancy.routing.sqlaccess import advance_position, commit_position_of

INT64 = (-(2**63), 2**63 - 1)
MAX_STORED_SQL = 150
MAX_DESCRIBED_PARAMS = 999
WRITES_KNOWN = 256  # statement texts whose kind a session remembers
PROGRESS_STEPS = 1000
READ_TRANSACTION = re.compile(r"\s*BEGIN\s+(DEFERRED\s+)?TRANSACTION\s+READONLY\s*;?\s*", re.I)


class ProtocolError(Exception):
    """A request the protocol cannot run; ``code`` is what clients see in ``error.code``."""

    def __init__(self, message: str, code: str = "INVALID_REQUEST", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status

    def as_json(self) -> dict[str, str]:
        return {"message": self.message, "code": self.code}


@dataclass
class Limits:
    """What one HTTP request may ask of the SQL API (settings SQLAPI_*)."""

    statement_seconds: float
    max_rows: int
    max_response_bytes: int
    max_statements: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            statement_seconds=settings.SQLAPI_STATEMENT_SECONDS,
            max_rows=settings.SQLAPI_MAX_ROWS,
            max_response_bytes=settings.SQLAPI_MAX_RESPONSE_BYTES,
            max_statements=settings.SQLAPI_MAX_STATEMENTS,
        )


@dataclass
class Budget:
    """What is left of one HTTP request's limits, and what it read and wrote."""

    limits: Limits
    statements: int = 0
    response_bytes: int = 0
    rows_read: int = 0
    rows_written: int = 0

    def take_statement(self) -> None:
        self.statements += 1
        if self.statements > self.limits.max_statements:
            raise ProtocolError(
                f"A request may run at most {self.limits.max_statements} statements.",
                "TOO_MANY_STATEMENTS",
            )


# Values --------------------------------------------------------------------------------


def decode_value(value: Any) -> Any:
    """Return the Python value of a protocol value; raise ProtocolError if it is not one."""
    if not isinstance(value, dict):
        raise ProtocolError("A value must be an object with a 'type'.")
    kind = value.get("type")
    if kind == "null":
        return None
    if kind == "integer":
        return _decode_integer(value.get("value"))
    if kind == "float":
        number = value.get("value")
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ProtocolError("A float value must be a JSON number.")
        return float(number)
    if kind == "text":
        text = value.get("value")
        if not isinstance(text, str):
            raise ProtocolError("A text value must be a string.")
        return text
    if kind == "blob":
        return _decode_blob(value.get("base64"))
    raise ProtocolError(f"Unknown value type {kind!r}.")


def _decode_integer(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ProtocolError("An integer value must be a string of digits.")
    try:
        number = int(raw)
    except ValueError:
        raise ProtocolError(f"{raw!r} is not an integer.") from None
    if not INT64[0] <= number <= INT64[1]:
        raise ProtocolError(f"{raw} does not fit in a 64-bit integer.")
    return number


def _decode_blob(raw: Any) -> bytes:
    if not isinstance(raw, str):
        raise ProtocolError("A blob value must carry its bytes in 'base64'.")
    padded = raw + "=" * (-len(raw) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("A blob's 'base64' is not valid base64.") from None


def encode_value(value: Any) -> dict[str, Any]:
    """Return the protocol value of what SQLite returned."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, int):
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProtocolError("A result holds a float that JSON cannot carry (inf or NaN).")
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "text", "value": value}
    return {"type": "blob", "base64": base64.b64encode(value).decode("ascii")}


def value_size(value: Any) -> int:
    """Return about how many bytes a value takes in a response."""
    return len(value) if isinstance(value, str | bytes) else 8


def encode_row(row: tuple[Any, ...]) -> tuple[list[dict[str, Any]], int]:
    """Return the protocol values of a row and about how many bytes they take.

    Text and integers, most of what rows hold, are encoded here without a call each.
    """
    values: list[dict[str, Any]] = []
    size = 0
    for value in row:
        kind = type(value)
        if kind is str:
            values.append({"type": "text", "value": value})
            size += len(value)
        elif kind is int:
            values.append({"type": "integer", "value": str(value)})
            size += 8
        else:
            values.append(encode_value(value))
            size += value_size(value)
    return values, size


# Statements ----------------------------------------------------------------------------


class Session:
    """One stream's connection and what it remembers between requests.

    Writes advance the workspace's commit position inside their transaction, as every
    write does: once, at the transaction's first change (autocommit writes right after).
    """

    def __init__(self, connection: sqlite3.Connection, authorizer: Authorizer) -> None:
        self.connection = connection
        self.authorizer = authorizer
        self.stored_sql: dict[int, str] = {}
        self.advanced_to: tuple[int, int] | None = None  # inside the open transaction
        self.committed: tuple[int, int] | None = None  # the last commit this stream made
        self.deadline: float | None = None
        # What SQLite said of each statement text (a text's program never changes kind).
        self.writes_by_sql: dict[str, bool] = {}
        connection.set_progress_handler(self._past_deadline, PROGRESS_STEPS)

    @property
    def autocommit(self) -> bool:
        return not self.connection.in_transaction

    def sql_of(self, holder: dict[str, Any]) -> str:
        """Return the SQL text a statement, sequence or describe names (sql or sql_id)."""
        sql, sql_id = holder.get("sql"), holder.get("sql_id")
        if sql is not None and sql_id is not None:
            raise ProtocolError("Give 'sql' or 'sql_id', not both.")
        if sql_id is not None:
            if sql_id not in self.stored_sql:
                raise ProtocolError(f"No SQL is stored under id {sql_id!r}.", "SQL_NOT_STORED")
            return self.stored_sql[sql_id]
        if not isinstance(sql, str):
            raise ProtocolError("A statement needs its SQL text in 'sql' (or a 'sql_id').")
        return sql

    def store_sql(self, request: dict[str, Any]) -> None:
        sql_id, sql = request.get("sql_id"), request.get("sql")
        if not isinstance(sql_id, int) or isinstance(sql_id, bool) or not isinstance(sql, str):
            raise ProtocolError("store_sql needs an integer 'sql_id' and the 'sql' text.")
        if sql_id not in self.stored_sql and len(self.stored_sql) >= MAX_STORED_SQL:
            raise ProtocolError(f"A stream may store at most {MAX_STORED_SQL} SQL texts.")
        self.stored_sql[sql_id] = sql

    def close_sql(self, request: dict[str, Any]) -> None:
        sql_id = request.get("sql_id")
        if not isinstance(sql_id, int) or isinstance(sql_id, bool):
            raise ProtocolError("close_sql needs an integer 'sql_id'.")
        self.stored_sql.pop(sql_id, None)

    def execute(self, stmt: Any, budget: Budget) -> dict[str, Any]:
        """Run one statement and return its StmtResult."""
        if not isinstance(stmt, dict):
            raise ProtocolError("A statement must be an object.")
        sql = self.sql_of(stmt)
        params = statement_params(stmt)
        want_rows = stmt.get("want_rows", True) is not False
        budget.take_statement()
        return self._run(sql, params, want_rows, budget)

    def _run(self, sql: str, params: Any, want_rows: bool, budget: Budget) -> dict[str, Any]:
        read_transaction = READ_TRANSACTION.fullmatch(sql) is not None
        if read_transaction:
            sql = "BEGIN DEFERRED"
        connection = self.connection
        started = time.perf_counter()
        self.deadline = time.monotonic() + budget.limits.statement_seconds
        try:
            own = self.autocommit and self._writes(sql, params)
            with self._own_transaction(own):
                before = connection.total_changes
                cursor = self._compile_and_run(sql, params)
                cols = [{"name": col[0], "decltype": None} for col in cursor.description or ()]
                rows = self._fetch(cursor, want_rows, budget)
                written = connection.total_changes - before
                self._after_statement(written)
        except sqlite3.Error as exc:
            raise self._sql_error(exc, budget) from None
        finally:
            self.deadline = None
        if read_transaction:
            self._read_only_transaction(True)
        budget.rows_written += written
        return {
            "cols": cols,
            "rows": rows,
            "affected_row_count": max(cursor.rowcount, 0) if written else 0,
            "last_insert_rowid": str(cursor.lastrowid) if cursor.lastrowid else None,
            "rows_read": len(rows),
            "rows_written": written,
            "query_duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }

    def _writes(self, sql: str, params: Any) -> bool:
        """Return True for a statement that writes and is not transaction control.

        SQLite compiles it (EXPLAIN, authorized like the statement) and its program says:
        a write transaction, no BEGIN, COMMIT, ROLLBACK or SAVEPOINT of its own. A text
        that does not compile so is run as it is, and fails or reads.
        """
        if self.authorizer.read_only:
            return False
        known = self.writes_by_sql.get(sql)
        if known is not None:
            return known
        try:
            program = self._compile_and_run(f"EXPLAIN {sql}", params).fetchall()
        except (sqlite3.Error, sqlite3.Warning):
            return False
        opcodes = {row[1] for row in program}
        writes = any(row[1] == "Transaction" and row[3] for row in program)
        if len(self.writes_by_sql) >= WRITES_KNOWN:
            self.writes_by_sql.clear()
        self.writes_by_sql[sql] = writes and not opcodes & {"AutoCommit", "Savepoint"}
        return self.writes_by_sql[sql]

    @contextmanager
    def _own_transaction(self, own: bool) -> Iterator[None]:
        """Run an autocommit write in a transaction of its own: all of it, or nothing.

        The commit position advances inside it; a statement stopped by a limit while it
        returns rows (RETURNING) is rolled back, where autocommit would have kept it.
        """
        if not own:
            yield
            return
        with self._engine():
            self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.connection.in_transaction:  # (an interrupt rolls it back itself)
                with self._engine():
                    self.connection.execute("ROLLBACK")
            self.advanced_to = None
            raise
        with self._engine():
            self.connection.execute("COMMIT")
        self._after_statement(0)

    def _compile_and_run(self, sql: str, params: Any) -> sqlite3.Cursor:
        """Run a client's statement: every part of it the authorizer checks first."""
        self.authorizer.compiling()
        return self.connection.execute(sql, params)

    def _fetch(self, cursor: sqlite3.Cursor, want_rows: bool, budget: Budget) -> list[Any]:
        rows: list[Any] = []
        limits = budget.limits
        for row in cursor:
            budget.rows_read += 1
            if not want_rows:
                continue
            if len(rows) >= limits.max_rows:
                cursor.close()
                raise ProtocolError(
                    f"The statement returns more than {limits.max_rows} rows; "
                    "add a LIMIT or page through the results.",
                    "ROWS_LIMIT",
                )
            values, size = encode_row(row)
            budget.response_bytes += size
            if budget.response_bytes > limits.max_response_bytes:
                cursor.close()
                raise ProtocolError(
                    f"The response would exceed {limits.max_response_bytes} bytes; "
                    "select fewer rows or columns.",
                    "RESPONSE_TOO_LARGE",
                )
            rows.append(values)
        return rows

    def _after_statement(self, written: int) -> None:
        """Advance the commit position for a write; note a commit once its transaction ends."""
        connection = self.connection
        if connection.in_transaction:
            if written and self.advanced_to is None:
                with self._engine():
                    self.advanced_to = advance_position(connection)
            return
        self._read_only_transaction(False)
        if self.advanced_to is not None:  # the transaction that wrote just ended
            with self._engine():
                position = commit_position_of(connection)
            if position == self.advanced_to:
                self.committed = self.advanced_to
            self.advanced_to = None
        elif written:  # a write SQLite committed by itself (not known to write beforehand)
            with self._engine():
                self.committed = advance_position(connection) or self.committed

    @contextmanager
    def _engine(self) -> Iterator[None]:
        """Run the engine's own statements without the client's authorizer.

        Setting an authorizer (or none) expires every compiled statement, so the engine's
        statements, compiled here, are authorized anew if a client ever sends their text.
        The client's statement time does not apply to them.
        """
        deadline, self.deadline = self.deadline, None
        self.connection.set_authorizer(None)
        try:
            yield
        finally:
            self.connection.set_authorizer(self.authorizer)
            self.deadline = deadline

    def _read_only_transaction(self, on: bool) -> None:
        if self.authorizer.read_only_transaction != on:
            self.authorizer.read_only_transaction = on
            # Setting it again expires compiled statements: each is authorized anew.
            self.connection.set_authorizer(self.authorizer)

    def _sql_error(self, exc: sqlite3.Error, budget: Budget) -> ProtocolError:
        code = getattr(exc, "sqlite_errorname", None) or "SQLITE_ERROR"
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT:
            seconds = budget.limits.statement_seconds
            return ProtocolError(
                f"The statement ran longer than {seconds:g} s and was interrupted "
                "(its changes were undone).",
                "SQLITE_INTERRUPT",
            )
        if self.authorizer.refusal:  # the authorizer said no while this statement compiled
            return ProtocolError(f"Refused: {self.authorizer.refusal}.", "SQLITE_AUTH")
        if isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError):
            return ProtocolError(str(exc), "INVALID_STATEMENT")
        return ProtocolError(str(exc), code)

    def _past_deadline(self) -> int:
        deadline = self.deadline
        return int(deadline is not None and time.monotonic() > deadline)

    # Batches, sequences, descriptions ------------------------------------------------------

    def batch(self, batch: Any, budget: Budget) -> dict[str, Any]:
        """Run a batch's steps under their conditions; return its BatchResult."""
        steps = batch.get("steps") if isinstance(batch, dict) else None
        if not isinstance(steps, list):
            raise ProtocolError("A batch needs a list of 'steps'.")
        results: list[Any] = []
        errors: list[Any] = []
        for step in steps:
            if not isinstance(step, dict):
                raise ProtocolError("A batch step must be an object.")
            condition = step.get("condition")
            if condition is not None and not self.holds(condition, results, errors):
                results.append(None)
                errors.append(None)
                continue
            try:
                results.append(self.execute(step.get("stmt"), budget))
                errors.append(None)
            except ProtocolError as exc:
                if exc.code in ("TOO_MANY_STATEMENTS", "RESPONSE_TOO_LARGE"):
                    raise
                results.append(None)
                errors.append(exc.as_json())
        return {"step_results": results, "step_errors": errors}

    def holds(self, condition: Any, results: list[Any], errors: list[Any]) -> bool:
        """Evaluate a batch step's condition against the steps run so far."""
        if not isinstance(condition, dict):
            raise ProtocolError("A batch condition must be an object.")
        kind = condition.get("type")
        if kind in ("ok", "error"):
            step = condition.get("step")
            if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < len(results):
                raise ProtocolError("A condition may only name an earlier step.")
            return (results if kind == "ok" else errors)[step] is not None
        if kind == "not":
            return not self.holds(condition.get("cond"), results, errors)
        if kind in ("and", "or"):
            conds = condition.get("conds")
            if not isinstance(conds, list):
                raise ProtocolError(f"An '{kind}' condition needs a list of 'conds'.")
            values = [self.holds(cond, results, errors) for cond in conds]
            return all(values) if kind == "and" else any(values)
        if kind == "is_autocommit":
            return self.autocommit
        raise ProtocolError(f"Unknown condition type {kind!r}.")

    def sequence(self, request: dict[str, Any], budget: Budget) -> None:
        """Run every statement of a SQL text, without arguments or rows."""
        for sql in split_statements(self.sql_of(request)):
            budget.take_statement()
            self._run(sql, (), False, budget)

    def describe(self, request: dict[str, Any], budget: Budget) -> dict[str, Any]:
        """Return a statement's parameters, columns and whether it is read-only."""
        sql = self.sql_of(request)
        budget.take_statement()
        try:
            program, bindings = self._explain(sql)
        except sqlite3.Error as exc:
            raise self._sql_error(exc, budget) from None
        params: dict[int, str | None] = {}
        readonly = True
        for row in program:
            opcode, p1, p2, p4 = row[1], row[2], row[3], row[5]
            if opcode == "Variable":
                params[p1] = p4 if isinstance(p4, str) and p4 else None
            if opcode == "Transaction" and p2:
                readonly = False
        return {
            "params": [{"name": params[index]} for index in sorted(params)],
            "cols": self._describe_columns(sql, bindings),
            "is_explain": sql.lstrip().upper().startswith("EXPLAIN"),
            "is_readonly": readonly,
        }

    def _explain(self, sql: str) -> tuple[list[Any], Any]:
        """Return a statement's program (EXPLAIN) and NULL bindings that fit it.

        sqlite3 wants as many bindings as the statement has parameters: named ones take
        NULL from a mapping; for anonymous ones, SQLite is asked with one more each time.
        """
        bindings: Any = _Nulls()
        for count in range(MAX_DESCRIBED_PARAMS + 1):
            try:
                return self._compile_and_run(f"EXPLAIN {sql}", bindings).fetchall(), bindings
            except sqlite3.ProgrammingError:
                bindings = (None,) * (count + 1)
        raise ProtocolError(f"A statement may have at most {MAX_DESCRIBED_PARAMS} parameters.")

    def _describe_columns(self, sql: str, bindings: Any) -> list[dict[str, Any]]:
        """Return the result columns of a read-only query by running it with no rows."""
        try:
            cursor = self._compile_and_run(
                f"SELECT * FROM ({sql}) LIMIT 0",  # noqa: S608 (checked by the authorizer)
                bindings,
            )
        except (sqlite3.Error, sqlite3.Warning):
            return []
        return [{"name": column[0], "decltype": None} for column in cursor.description or ()]


class _Nulls(dict[str, None]):
    """Bindings that give NULL to every named parameter."""

    def __missing__(self, key: str) -> None:
        return None


def statement_params(stmt: dict[str, Any]) -> Any:
    """Return the bindings of a statement: a tuple, or a dict when it has named arguments.

    Names may come with or without their ``:``, ``@`` or ``$``; positional arguments also
    bind to ``?1``, ``?2``... when both kinds are given.
    """
    args = stmt.get("args") or []
    named = stmt.get("named_args") or []
    if not isinstance(args, list) or not isinstance(named, list):
        raise ProtocolError("'args' and 'named_args' must be lists.")
    values = [decode_value(value) for value in args]
    if not named:
        return tuple(values)
    bound: dict[str, Any] = {str(index): value for index, value in enumerate(values, 1)}
    for arg in named:
        if not isinstance(arg, dict) or not isinstance(arg.get("name"), str):
            raise ProtocolError("A named argument is an object with a 'name' and a 'value'.")
        name = arg["name"]
        bound[name[1:] if name[:1] in (":", "@", "$") else name] = decode_value(arg.get("value"))
    return bound


def split_statements(sql: str) -> list[str]:
    """Split a SQL text into complete statements (SQLite decides where each one ends)."""
    statements, pending = [], ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending)
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ProtocolError("The SQL text ends in an incomplete statement.", "SQLITE_ERROR")
    return statements
