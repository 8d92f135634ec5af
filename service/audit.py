"""The audit log: one row per scored item, written durably before the service answers.

`referee serve --audit-db PATH` keeps it in SQLite (WAL, `synchronous=FULL`: a committed row survives a
crash of the process or the machine); `--audit-db postgresql://...` keeps it in PostgreSQL, for several
replicas sharing one log. The service acknowledges a request only after its rows are committed, so a
request the client saw answered is in the log even if the service is killed the next instant; if the
log cannot be written the request fails with 503 rather than answering unrecorded.

Each row: request id, time, item index, source and version, constitution name@version and sha256 (for
judges), sha256 of prompt, completion and reference, value or reason, details; and the texts themselves
when `audit_texts` is on (needed by `referee rescore`).
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

from referee.verifiers import Sample, Score

__all__ = ["AuditLog", "AuditQuery", "AuditRecord", "open_audit_log", "records_for"]

_COLUMNS = ("request_id", "ts", "item", "source", "version", "constitution", "constitution_sha256",
            "prompt_sha256", "completion_sha256", "reference_sha256", "value", "reason", "details",
            "prompt", "completion", "reference")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    request_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, item INTEGER NOT NULL,
    source TEXT NOT NULL, version TEXT NOT NULL, constitution TEXT, constitution_sha256 TEXT,
    prompt_sha256 TEXT NOT NULL, completion_sha256 TEXT NOT NULL, reference_sha256 TEXT,
    value DOUBLE PRECISION, reason TEXT, details TEXT NOT NULL,
    prompt TEXT, completion TEXT, reference TEXT,
    PRIMARY KEY (request_id, item)
)"""
_INDEXES = ("CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts)",
            "CREATE INDEX IF NOT EXISTS audit_source ON audit (source, ts)")


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
    source: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 1000

    def where(self, placeholder: str) -> tuple[str, list[Any]]:
        clauses, args = [], []
        for column, op, value in (("request_id", "=", self.request_id), ("source", "=", self.source),
                                  ("ts", ">=", self.since), ("ts", "<", self.until)):
            if value is not None:
                clauses.append(f"{column} {op} {placeholder}")
                args.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def records_for(request_id: str, samples: Sequence[Sample], scores: Sequence[Score], *,
                texts: bool) -> list[AuditRecord]:
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
            reference=sample.reference if texts else None,
        ))
    return out


class AuditLog(Protocol):
    async def write(self, records: Sequence[AuditRecord]) -> None:
        """Commit `records`; when this returns they are durable."""

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
            db.execute(_SCHEMA)
            for index in _INDEXES:
                db.execute(index)
            self._db = db
        return self._db

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(f"INSERT OR REPLACE INTO audit VALUES ({', '.join('?' * len(_COLUMNS))})", rows)
            db.execute("COMMIT")
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

            self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=False)
            async with self._conn.cursor() as cur:
                await cur.execute(_SCHEMA)
                for index in _INDEXES:
                    await cur.execute(index)
            await self._conn.commit()
        return self._conn

    async def write(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        cols = ", ".join(_COLUMNS)
        sql = (f"INSERT INTO audit ({cols}) VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
               f"ON CONFLICT (request_id, item) DO UPDATE SET "
               + ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[2:]))
        async with self._lock:
            conn = await self._connect()
            try:
                async with conn.cursor() as cur:
                    await cur.executemany(sql, [r.row() for r in records])
                await conn.commit()
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
