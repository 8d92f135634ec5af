"""The audit log: one row per scored item, written durably before the service answers.

`referee serve --audit-db PATH` keeps it in SQLite (WAL, `synchronous=FULL`: a committed row survives a
crash of the process or the machine); `--audit-db postgresql://...` keeps it in PostgreSQL, for several
replicas sharing one log. The service acknowledges a request only after its rows are committed, so a
request the client saw answered is in the log even if the service is killed the next instant; if the
log cannot be written the request fails with 503 rather than answering unrecorded.

Each row: request id, time, item index, source and version, constitution name@version and sha256 (for
judges), sha256 of prompt, completion and reference, value or reason, details; and the texts themselves
when `audit_texts` is on (needed by `referee rescore`). `kind` says what the item was:

- `score`: a sample scored by a source (`/v1/score` and the trainer protocols);
- `compare`: a pair judged by `/v1/compare`, recorded as the judge's pairwise mode sees it: `completion` is
  reply a, `reference` reply b, `value` P(a is better); `details` hold `consistent` and the principles;
- `grader`: an OpenAI grader run: `completion` is the model sample, `reference` the item as JSON, `source`
  `grader.<type>`; `details` hold the grader's name, OpenAI's error flags and the spec's sha256.

Rows are never overwritten: a row is inserted once, and a second insert of the same (request id, item) is
refused by the database (`DuplicateRequestId`), whereupon the service answers under a fresh id.
`caller_request_id` keeps the caller's X-Request-ID, so a reused id still finds all of its requests.

A log file of the previous layout (without `caller_request_id` and `kind`) gains the two columns when the
service opens it; its rows keep their ids and count as `score`. A table named `audit` that lacks referee's
columns is refused at start-up rather than written into.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from pydantic import BaseModel

from referee.verifiers import ConfigError, Sample, Score

__all__ = ["AuditLog", "AuditQuery", "AuditRecord", "DuplicateRequestId", "open_audit_log", "records_for"]

_COLUMNS = ("request_id", "ts", "item", "source", "version", "constitution", "constitution_sha256",
            "prompt_sha256", "completion_sha256", "reference_sha256", "value", "reason", "details",
            "prompt", "completion", "reference", "caller_request_id", "kind")
_BASE_COLUMNS = _COLUMNS[:-2]  # the first layout's
_ADDED_COLUMNS = {"caller_request_id": "TEXT", "kind": "TEXT NOT NULL DEFAULT 'score'"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    request_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, item INTEGER NOT NULL,
    source TEXT NOT NULL, version TEXT NOT NULL, constitution TEXT, constitution_sha256 TEXT,
    prompt_sha256 TEXT NOT NULL, completion_sha256 TEXT NOT NULL, reference_sha256 TEXT,
    value DOUBLE PRECISION, reason TEXT, details TEXT NOT NULL,
    prompt TEXT, completion TEXT, reference TEXT,
    caller_request_id TEXT, kind TEXT NOT NULL DEFAULT 'score',
    PRIMARY KEY (request_id, item)
)"""
_INDEXES = ("CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts)",
            "CREATE INDEX IF NOT EXISTS audit_source ON audit (source, ts)",
            "CREATE INDEX IF NOT EXISTS audit_caller ON audit (caller_request_id)")
_INSERT = f"INSERT INTO audit ({', '.join(_COLUMNS)}) VALUES ({{}})"


class DuplicateRequestId(Exception):
    """The log already holds rows under this request id; nothing of this write was stored."""


def _migrations(target: str, present: Sequence[str]) -> list[str]:
    """ALTER statements that bring a table with columns `present` to this layout; ConfigError if it is not one."""
    missing = [c for c in _BASE_COLUMNS if c not in present]
    if missing:
        raise ConfigError(f"the table `audit` in {target} is not a referee audit log (missing columns: "
                         f"{', '.join(missing)}); give --audit-db a new file or database")
    return [f"ALTER TABLE audit ADD COLUMN {name} {kind}" for name, kind in _ADDED_COLUMNS.items()
            if name not in present]


class AuditRecord(BaseModel):
    request_id: str
    ts: float
    item: int
    source: str
    version: str
    constitution: str | None = None
    constitution_sha256: str | None = None
    prompt_sha256: str
    completion_sha256: str
    reference_sha256: str | None = None
    value: float | None = None
    reason: str | None = None
    details: dict[str, Any] = {}
    prompt: str | None = None
    completion: str | None = None
    reference: str | None = None
    caller_request_id: str | None = None
    kind: str = "score"

    def row(self) -> tuple[Any, ...]:
        data = self.model_dump()
        data["details"] = json.dumps(self.details, default=str, sort_keys=True)
        return tuple(data[c] for c in _COLUMNS)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AuditRecord:
        data = dict(zip(_COLUMNS, row, strict=True))
        data["details"] = json.loads(data["details"])
        return cls.model_validate(data)


class AuditQuery(BaseModel):
    request_id: str | None = None
    """The service's request id or the caller's X-Request-ID: a reused caller id finds every request."""
    source: str | None = None
    kind: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 1000

    def where(self, placeholder: str) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.request_id is not None:
            clauses.append(f"(request_id = {placeholder} OR caller_request_id = {placeholder})")
            args += [self.request_id, self.request_id]
        for column, op, value in (("source", "=", self.source), ("kind", "=", self.kind),
                                  ("ts", ">=", self.since), ("ts", "<", self.until)):
            if value is not None:
                clauses.append(f"{column} {op} {placeholder}")
                args.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def records_for(request_id: str, samples: Sequence[Sample], scores: Sequence[Score], *, texts: bool,
                kind: str = "score", caller_request_id: str | None = None) -> list[AuditRecord]:
    now = time.time()
    out = []
    for i, (sample, score) in enumerate(zip(samples, scores, strict=True)):
        d = score.details
        out.append(AuditRecord(
            request_id=request_id, ts=now, item=i, source=score.source, version=score.version,
            constitution=d.get("constitution"), constitution_sha256=d.get("constitution_sha256"),
            prompt_sha256=_sha(sample.prompt) or "", completion_sha256=_sha(sample.completion) or "",
            reference_sha256=_sha(sample.reference), value=score.value,
            reason=None if score.reason is None else score.reason.value,
            details={**d, "components": [c.model_dump(mode="json") for c in score.components]}
            if score.components else d,
            prompt=sample.prompt if texts else None, completion=sample.completion if texts else None,
            reference=sample.reference if texts else None, caller_request_id=caller_request_id, kind=kind,
        ))
    return out


class AuditLog(Protocol):
    async def open(self) -> None:
        """Connect, create or migrate the table; ConfigError naming the problem if it cannot be used."""

    async def write(self, records: Sequence[AuditRecord]) -> None:
        """Commit `records`; when this returns they are durable. `DuplicateRequestId` if their id is taken."""

    async def query(self, q: AuditQuery) -> list[AuditRecord]: ...

    async def aclose(self) -> None: ...


class SQLiteAuditLog:
    def __init__(self, path: str) -> None:
        self.path = path
        # One thread owns the connection: sqlite3 connections must stay on their thread, and writes are
        # serialised anyway. Several processes (uvicorn workers) share the file through SQLite's locks.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="audit-sqlite")
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # durable on commit, not merely on checkpoint
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("BEGIN IMMEDIATE")  # one replica migrates; the others then see the new layout
            try:
                db.execute(_SCHEMA)
                present = [row[1] for row in db.execute("PRAGMA table_info(audit)")]
                for statement in _migrations(self.path, present):
                    db.execute(statement)
                for index in _INDEXES:
                    db.execute(index)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                db.close()
                raise
            self._db = db
        return self._db

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_INSERT.format(", ".join("?" * len(_COLUMNS))), rows)
            db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            db.execute("ROLLBACK")
            if exc.sqlite_errorname in ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"):
                raise DuplicateRequestId(str(exc)) from exc
            raise
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _query(self, q: AuditQuery) -> list[AuditRecord]:
        where, args = q.where("?")
        cursor = self._connect().execute(
            f"SELECT {', '.join(_COLUMNS)} FROM audit{where} ORDER BY ts, request_id, item LIMIT ?", [*args, q.limit])
        return [AuditRecord.from_row(r) for r in cursor.fetchall()]

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def open(self) -> None:
        await self._run(self._connect)

    async def write(self, records: Sequence[AuditRecord]) -> None:
        if records:
            await self._run(self._write, [r.row() for r in records])

    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        result: list[AuditRecord] = await self._run(self._query, q)
        return result

    async def aclose(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await self._run(close)
        self._thread.shutdown()


class PostgresAuditLog:
    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=False)
            try:
                async with conn.cursor() as cur:
                    # replicas starting together: one creates or migrates, the others wait for it
                    await cur.execute("SELECT pg_advisory_xact_lock(hashtext('referee.audit'))")
                    await cur.execute(_SCHEMA)
                    await cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'audit' "
                                      "AND table_schema = current_schema()")
                    present = [row[0] for row in await cur.fetchall()]
                    for statement in _migrations(self.url.split("@")[-1], present):
                        await cur.execute(statement)
                    for index in _INDEXES:
                        await cur.execute(index)
                await conn.commit()
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def open(self) -> None:
        async with self._lock:
            await self._connect()

    async def write(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        import psycopg

        sql = _INSERT.format(", ".join(["%s"] * len(_COLUMNS)))
        async with self._lock:
            conn = await self._connect()
            try:
                async with conn.cursor() as cur:
                    await cur.executemany(sql, [r.row() for r in records])
                await conn.commit()
            except psycopg.errors.UniqueViolation as exc:
                await conn.rollback()
                raise DuplicateRequestId(str(exc)) from exc
            except BaseException:
                await conn.rollback()
                raise

    async def query(self, q: AuditQuery) -> list[AuditRecord]:
        where, args = q.where("%s")
        async with self._lock:
            conn = await self._connect()
            async with conn.cursor() as cur:
                await cur.execute(f"SELECT {', '.join(_COLUMNS)} FROM audit{where} "
                                  "ORDER BY ts, request_id, item LIMIT %s", [*args, q.limit])
                rows = await cur.fetchall()
            await conn.commit()
        return [AuditRecord.from_row(r) for r in rows]

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()


def open_audit_log(target: str) -> AuditLog:
    """A PostgreSQL URL (`postgresql://...`) or a SQLite file path."""
    if target.startswith(("postgresql://", "postgres://")):
        return PostgresAuditLog(target)
    return SQLiteAuditLog(target)
