"""The audit log: nothing acknowledged is lost (SIGKILL mid-load), SQLite and a real PostgreSQL, and the
`referee audit` / `referee rescore` commands."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from referee.service.local import LocalService, ServiceStartError, free_port
from tests.test_cli import referee


def _rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT request_id, count(*) FROM audit GROUP BY request_id").fetchall())


def test_every_acknowledged_request_survives_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    acked: dict[str, int] = {}
    stop = threading.Event()
    svc = LocalService(extra_args=["--audit-db", str(db)]).start()

    def load(worker: int) -> None:
        with httpx.Client(base_url=svc.url, timeout=10) as http:
            for n in range(10_000):
                if stop.is_set():
                    return
                rid = f"w{worker}-{n}"
                size = 1 + (n % 7)
                body = {"source": "exact", "samples": [{"completion": str(i), "reference": "1"} for i in range(size)]}
                try:
                    r = http.post("/v1/score", json=body, headers={"X-Request-ID": rid})
                except httpx.TransportError:
                    return  # the service is gone
                if r.status_code == 200:
                    acked[rid] = size

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.process is not None
        os.kill(svc.process.pid, signal.SIGKILL)  # no shutdown hook runs
        svc.process.wait()
    finally:
        stop.set()
        for t in threads:
            t.join()
        svc.stop()
    assert len(acked) >= 100, "the load never got going"
    recorded = _rows(db)
    missing = {rid: n for rid, n in acked.items() if recorded.get(rid) != n}
    assert not missing, f"{len(missing)} acknowledged requests are not fully in the audit log: {list(missing)[:5]}"


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[tuple[LocalService, Path]]:
    db = tmp_path / "audit.db"
    with LocalService(extra_args=["--audit-db", str(db), "--audit-texts"]) as svc:
        yield svc, db


def test_audit_and_rescore_commands(audited: tuple[LocalService, Path], tmp_path: Path) -> None:
    svc, db = audited
    samples = [{"prompt": "capital?", "completion": "The answer is paris", "reference": "Paris"},
               {"prompt": "capital?", "completion": "The answer is Rome", "reference": "Paris"},
               {"prompt": "capital?", "completion": "Paris"}]
    r = httpx.post(svc.url + "/v1/score", json={"source": "exact", "samples": samples},
                   headers={"X-Request-ID": "req-1"})
    assert [s["value"] for s in r.json()["scores"]] == [1.0, 0.0, None]

    summary = referee("audit", str(db)).stdout
    assert "3 items in 1 requests" in summary and "exact@1.0: 3 items" in summary and "no_reference: 1" in summary
    listing = referee("audit", str(db), "--json", "--request-id", "req-1").stdout
    rows = [json.loads(line) for line in listing.splitlines()]
    assert [r["item"] for r in rows] == [0, 1, 2] and rows[0]["completion"] == "The answer is paris"
    assert len(rows[0]["completion_sha256"]) == 64 and rows[2]["reason"] == "no_reference"

    out = tmp_path / "diff.jsonl"
    result = referee("rescore", str(db), "--source", "exact", "--options", '{"case_sensitive": true}', "-o", str(out))
    assert "rescored 3 items: 1 changed value" in result.stdout
    diffs = [json.loads(line) for line in out.read_text().splitlines()]
    assert diffs[0]["old_value"] == 1.0 and diffs[0]["new"]["value"] == 0.0


def test_rescore_needs_texts(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    with LocalService(extra_args=["--audit-db", str(db)]) as svc:
        httpx.post(svc.url + "/v1/score", json={"source": "exact", "samples": [{"completion": "1", "reference": "1"}]})
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT prompt, completion FROM audit").fetchall() == [(None, None)]
    result = referee("rescore", str(db), "--source", "exact", check=False)
    assert result.returncode == 2 and "--audit-texts" in result.stderr


def test_unwritable_audit_log_refuses_to_acknowledge(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    with LocalService(extra_args=["--audit-db", str(db)]) as svc:
        ok = httpx.post(svc.url + "/v1/score", json={"source": "exact", "samples": [{"completion": "1"}]})
        assert ok.status_code == 200
        with sqlite3.connect(db) as conn:  # break the table under the running service
            conn.execute("DROP TABLE audit")
            conn.execute("CREATE TABLE audit (x INTEGER)")
        r = httpx.post(svc.url + "/v1/score", json={"source": "exact", "samples": [{"completion": "1"}]})
    assert r.status_code == 503 and "audit log could not record" in r.json()["detail"]
    assert r.headers["retry-after"] == "5"


def test_a_reused_request_id_never_overwrites_acknowledged_rows(audited: tuple[LocalService, Path]) -> None:
    svc, db = audited
    three = [{"completion": str(i), "reference": "0"} for i in range(3)]
    first = httpx.post(svc.url + "/v1/score", headers={"X-Request-ID": "dup"},
                       json={"source": "exact", "samples": three})
    second = httpx.post(svc.url + "/v1/score", headers={"X-Request-ID": "dup"},
                        json={"source": "exact", "samples": [{"completion": "x", "reference": "y"}] * 2})
    assert first.json()["request_id"] == "dup" and first.headers["x-request-id"] == "dup"
    fresh = second.json()["request_id"]
    assert fresh != "dup" and len(fresh) == 32 and second.headers["x-request-id"] == fresh
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT request_id, caller_request_id, item, completion FROM audit "
                            "ORDER BY ts, item").fetchall()
    assert rows == [("dup", "dup", 0, "0"), ("dup", "dup", 1, "1"), ("dup", "dup", 2, "2"),
                    (fresh, "dup", 0, "x"), (fresh, "dup", 1, "x")]
    listing = referee("audit", str(db), "--json", "--request-id", "dup").stdout
    listed = [json.loads(line) for line in listing.splitlines()]
    assert len(listed) == 5 and {r["caller_request_id"] for r in listed} == {"dup"}


OLD_SCHEMA = """CREATE TABLE audit (
    request_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, item INTEGER NOT NULL,
    source TEXT NOT NULL, version TEXT NOT NULL, constitution TEXT, constitution_sha256 TEXT,
    prompt_sha256 TEXT NOT NULL, completion_sha256 TEXT NOT NULL, reference_sha256 TEXT,
    value DOUBLE PRECISION, reason TEXT, details TEXT NOT NULL,
    prompt TEXT, completion TEXT, reference TEXT,
    PRIMARY KEY (request_id, item))"""


def test_an_audit_log_of_the_previous_layout_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute(OLD_SCHEMA)
        conn.execute("INSERT INTO audit VALUES ('old', 1.0, 0, 'exact', '1.0', NULL, NULL, 'p', 'c', NULL, 1.0, "
                     "NULL, '{}', NULL, NULL, NULL)")
    with LocalService(extra_args=["--audit-db", str(db)]) as svc:
        r = httpx.post(svc.url + "/v1/score", headers={"X-Request-ID": "old"},
                       json={"source": "exact", "samples": [{"completion": "1", "reference": "1"}]})
        assert r.status_code == 200 and r.json()["request_id"] != "old"  # the old row keeps its id
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT request_id, caller_request_id, kind, value FROM audit ORDER BY ts").fetchall()
    assert rows == [("old", None, "score", 1.0), (r.json()["request_id"], "old", "score", 1.0)]


def test_a_table_that_is_not_an_audit_log_is_refused_at_start(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE audit (x INTEGER)")
    svc = LocalService(extra_args=["--audit-db", str(db)], startup_timeout=60)
    try:
        with pytest.raises(ServiceStartError) as caught:
            svc.start()
    finally:
        svc.stop()  # had it started after all, leave no service behind
    assert "is not a referee audit log" in str(caught.value) and "missing columns" in str(caught.value)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A real, throwaway PostgreSQL server on loopback (run as the `postgres` user: it refuses root)."""
    initdb, pg_ctl, runuser = shutil.which("initdb"), shutil.which("pg_ctl"), shutil.which("runuser")
    if not (initdb and pg_ctl and runuser):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) or runuser are not installed")
    # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="referee-pg-"))
    root.chmod(0o755)
    data = root / "pg"
    data.mkdir()
    shutil.chown(data, "postgres")
    as_pg = [runuser, "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_pg, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
                    "-l", str(data / "log"), "-w", "start"], check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_audit_log_shared_by_two_replicas(postgres_url: str) -> None:
    with LocalService(extra_args=["--audit-db", postgres_url]) as a, \
         LocalService(extra_args=["--audit-db", postgres_url]) as b:
        for svc, rid in ((a, "from-a"), (b, "from-b"), (b, "from-a")):  # the last reuses a's id on b
            r = httpx.post(svc.url + "/v1/score", headers={"X-Request-ID": rid},
                           json={"source": "exact", "samples": [{"completion": "2", "reference": "2"}] * 3})
            assert r.status_code == 200
        assert r.json()["request_id"] not in ("from-a", "from-b")
    summary = referee("audit", postgres_url).stdout
    assert "9 items in 3 requests" in summary and "mean value 1.0000" in summary
    reused = referee("audit", postgres_url, "--json", "--request-id", "from-a").stdout.splitlines()
    assert len(reused) == 6 and {json.loads(line)["caller_request_id"] for line in reused} == {"from-a"}
