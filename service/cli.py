"""`referee serve`, `referee score`, `referee sources`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from referee.verifiers import ConfigError, Registry, Runtime, Sample, Score, score_batch

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the reward service (FastAPI under uvicorn)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; others need an API key)")
    p.add_argument("--port", type=int, help="port to bind (default 8000)")
    p.add_argument("--http-workers", type=int, help="uvicorn worker processes (default 1)")
    p.add_argument("--api-key", help="require `Authorization: Bearer KEY` on /v1 and /metrics; this flag is visible "
                   "to other users in ps: prefer --api-key-file or the REFEREE_API_KEY environment variable")
    p.add_argument("--api-key-file", type=Path, help="read the API key from this file (surrounding whitespace "
                   "ignored); or set REFEREE_API_KEY_FILE")
    p.add_argument("--allow-insecure-bind", action="store_true", default=None,
                   help="allow a non-loopback address without an API key")
    p.add_argument("--sources", type=_names, help="comma-separated sources to enable (default: all installed)")
    p.add_argument("--audit-db", help="audit log: a SQLite file path or a postgresql:// URL")
    p.add_argument("--audit-texts", action="store_true", default=None,
                   help="store the texts in the audit log too (needed by `referee rescore`)")
    p.add_argument("--settings", type=Path, help="YAML file of service settings (see ServiceSettings)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=_serve)

    p = sub.add_parser("score", help="score a JSONL file of samples, in-process or through a running service")
    p.add_argument("input", type=Path, help="JSONL: one {prompt, completion, reference, metadata} per line")
    p.add_argument("--source", required=True,
                   help='a source name, or a JSON weighted mix: \'[{"source": "math", "weight": 1}]\'')
    p.add_argument("--options", type=json.loads, default={}, help="JSON object of source options")
    p.add_argument("--url", help="score through this running service (default: in-process)")
    p.add_argument("--api-key", help="API key for --url")
    p.add_argument("-o", "--output", type=Path, help="write input rows plus `score` as JSONL (default: stdout)")
    p.add_argument("--batch-size", type=int, default=256, help="samples per request or in-process batch")
    p.set_defaults(func=_score)

    p = sub.add_parser("sources", help="list reward sources (installed, or those a running service offers)")
    p.add_argument("--url", help="ask this running service instead of the local installation")
    p.add_argument("--api-key", help="API key for --url")
    p.add_argument("--json", action="store_true", help="print JSON including each options schema")
    p.set_defaults(func=_sources)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _serve(args: argparse.Namespace) -> int:
    from .server import serve
    from .settings import load_settings

    settings = load_settings(
        args.settings, host=args.host, port=args.port, http_workers=args.http_workers, api_key=args.api_key,
        api_key_file=args.api_key_file, allow_insecure_bind=args.allow_insecure_bind, sources=args.sources,
        audit_db=args.audit_db, audit_texts=args.audit_texts,
    )
    serve(settings, log_level=args.log_level)
    return 0


def _read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open() as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                Sample.model_validate({k: row[k] for k in ("prompt", "completion", "reference", "metadata")
                                       if k in row})
            except (json.JSONDecodeError, ValidationError) as exc:
                raise ConfigError(f"{path}:{n}: not a sample (a JSON object with at least `completion`, "
                                  f"optionally prompt/reference/metadata): {exc}") from exc
            rows.append(row)
    return rows


def _samples(rows: Sequence[dict[str, Any]]) -> list[Sample]:
    keys = ("prompt", "completion", "reference", "metadata")
    return [Sample.model_validate({k: r[k] for k in keys if k in r}) for r in rows]


def _batches(items: Sequence[Sample], size: int) -> Iterator[Sequence[Sample]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    rows = _read_rows(args.input)
    samples = _samples(rows)
    is_mix = args.source.lstrip().startswith("[")
    source: str | list[dict[str, Any]] = json.loads(args.source) if is_mix else args.source
    bar = tqdm(total=len(samples), unit="item", file=sys.stderr, disable=None)
    scores: list[Score] = []
    if args.url:
        from .client import RewardClient

        with RewardClient(args.url, api_key=args.api_key, max_batch=args.batch_size) as client:
            for batch in _batches(samples, args.batch_size):
                scores += client.score(source, batch, args.options)
                bar.update(len(batch))
    else:
        scores = asyncio.run(score_in_process(source, args.options, samples, args.batch_size, bar))
    bar.close()
    out = args.output.open("w") if args.output else sys.stdout
    try:
        for row, s in zip(rows, scores, strict=True):
            out.write(json.dumps({**row, "score": s.model_dump(mode="json", exclude={"components"}
                                                                if s.components is None else set())}) + "\n")
    finally:
        if args.output:
            out.close()
    return 0


async def score_in_process(source: str | list[dict[str, Any]], options: dict[str, Any], samples: list[Sample],
                           size: int, bar: Any) -> list[Score]:
    """Score `samples` with `source` (a name or a mix) in this process, `size` at a time."""
    from .schemas import ComponentSpec
    from .sources import EnabledSources

    async with Runtime() as runtime:
        registry = Registry()
        spec = source if isinstance(source, str) else [ComponentSpec.model_validate(c) for c in source]
        built = EnabledSources(registry, runtime, None).resolve(spec, options)
        scores: list[Score] = []
        for batch in _batches(samples, size):
            scores += await score_batch(built, batch)
            if bar is not None:
                bar.update(len(batch))
        return scores


def _sources(args: argparse.Namespace) -> int:
    if args.url:
        from .client import RewardClient

        with RewardClient(args.url, api_key=args.api_key) as client:
            infos = client.sources()
    else:
        registry = Registry()
        infos = [registry.info(n) for n in registry.names()]
    if args.json:
        print(json.dumps([i.model_dump() for i in infos], indent=2))
    else:
        width = max((len(i.name) for i in infos), default=4)
        for i in infos:
            print(f"{i.name:<{width}}  {i.version:<8} {i.description}  [{i.provider}]")
    return 0

