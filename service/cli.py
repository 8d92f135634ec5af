"""`referee serve`, `referee score`, `referee sources`.

    referee serve --port 8000
    referee score samples.jsonl --source math:1,judge:0.2 -o scored.jsonl   # in-process, or --url of a service
    referee sources --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from referee.verifiers import (
    ConfigError,
    Registry,
    Runtime,
    Sample,
    Score,
    SourceMix,
    jsonl_lines,
    parse_source,
    score_batch,
)

__all__ = ["add_parsers"]

# A person waits at the terminal: a service that is down is reported after a second or two, not ten.
_CLI_RETRIES = 2


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the reward service (FastAPI under uvicorn)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; others need an API key)")
    p.add_argument("--port", type=int, help="port to bind (default 8000)")
    p.add_argument("--http_workers", type=int, help="uvicorn worker processes (default 1)")
    p.add_argument("--api_key", help="require `Authorization: Bearer KEY` on /v1 and /metrics; this flag is visible "
                   "to other users in ps: prefer --api_key_file or the REFEREE_API_KEY environment variable")
    p.add_argument("--api_key_file", type=Path, help="read the API key from this file (surrounding whitespace "
                   "ignored); or set REFEREE_API_KEY_FILE")
    p.add_argument("--allow_insecure_bind", action="store_true", default=None,
                   help="allow a non-loopback address without an API key")
    p.add_argument("--sources", type=_names, help="comma-separated sources to enable (default: all installed)")
    p.add_argument("--audit_db", help="audit log: a SQLite file path or a postgresql:// URL")
    p.add_argument("--audit_texts", action="store_true", default=None,
                   help="store the texts in the audit log too (needed by `referee rescore`)")
    p.add_argument("--settings", type=Path, help="YAML file of service settings (see ServiceSettings)")
    p.add_argument("--log_level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="serve on Ray Serve, each source its own deployment (docs/scale.md); ADDRESS joins a "
                   "cluster ('auto', 'ray://HOST:10001'), none starts a local Ray. Needs referee[ray]")
    p.set_defaults(func=_serve)

    p = sub.add_parser("score", help="score a JSONL file of samples, in-process or through a running service")
    p.add_argument("input", type=Path, help="JSONL: one {prompt, completion, reference, metadata} per line")
    p.add_argument("--source", required=True, type=_source,
                   help="a source name, or a weighted mix `name:weight,name:weight` (e.g. math:1,judge:0.2)")
    p.add_argument("--options", type=_json_object, default={},
                   help="JSON object of the source's options; for a mix, {name: its options, ..., "
                   "\"on_unscored\": \"skip\"}")
    p.add_argument("--url", help="score through this running service (default: in-process)")
    p.add_argument("--api_key", help="API key for --url")
    p.add_argument("-o", "--output", type=Path, help="write input rows plus `score` as JSONL (default: stdout)")
    p.add_argument("--batch_size", type=int, default=256, help="samples per request or in-process batch")
    p.set_defaults(func=_score)

    p = sub.add_parser("sources", help="list reward sources (installed, or those a running service offers)")
    p.add_argument("--url", help="ask this running service instead of the local installation")
    p.add_argument("--api_key", help="API key for --url")
    p.add_argument("--json", action="store_true", help="print JSON including each options schema")
    p.set_defaults(func=_sources)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _source(text: str) -> SourceMix:
    try:
        return parse_source(text)
    except ConfigError as exc:  # argparse keeps the message of an ArgumentTypeError only
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc.msg} at character {exc.pos}): {text!r}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _serve(args: argparse.Namespace) -> int:
    from .server import serve
    from .settings import load_settings

    settings = load_settings(
        args.settings, host=args.host, port=args.port, http_workers=args.http_workers, api_key=args.api_key,
        api_key_file=args.api_key_file, allow_insecure_bind=args.allow_insecure_bind, sources=args.sources,
        audit_db=args.audit_db, audit_texts=args.audit_texts,
    )
    if args.ray is not None:
        from .scale import serve_on_ray

        serve_on_ray(settings, address=args.ray or None, log_level=args.log_level)
        return 0
    if settings.audit_db and "://" not in settings.audit_db:
        Path(settings.audit_db).expanduser().parent.mkdir(parents=True, exist_ok=True)  # as --output_dir does
    serve(settings, log_level=args.log_level)
    return 0


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ConfigError(f"input file {path} does not exist; give a JSONL file of samples "
                          "({prompt, completion, reference, metadata} per line)")
    rows = []
    for n, line in jsonl_lines(path):
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
    source, options = args.source.request(args.options)
    # A bar on a terminal; a line per batch otherwise (a log or a pipe still shows progress).
    bar = tqdm(total=len(samples), unit="item", file=sys.stderr, disable=None, desc=f"scoring with {args.source}")
    progress = _Progress(bar, len(samples))
    scores: list[Score] = []
    if args.url:
        from .client import RewardClient

        with RewardClient(args.url, api_key=args.api_key, max_batch=args.batch_size, retries=_CLI_RETRIES) as client:
            for batch in _batches(samples, args.batch_size):
                scores += client.score(source, batch, options)
                progress.update(len(batch))
    else:
        scores = asyncio.run(score_in_process(source, options, samples, args.batch_size, progress))
    bar.close()
    out = args.output.open("w") if args.output else sys.stdout
    try:
        for row, s in zip(rows, scores, strict=True):
            out.write(json.dumps({**row, "score": s.model_dump(mode="json", exclude={"components"}
                                                                if s.components is None else set())}) + "\n")
    finally:
        if args.output:
            out.close()
    print(summary(scores, str(args.source)), file=sys.stderr)
    return 0


class _Progress:
    def __init__(self, bar: Any, total: int) -> None:
        self.bar, self.total, self.done = bar, total, 0

    def update(self, n: int) -> None:
        self.done += n
        self.bar.update(n)
        if self.bar.disable:
            print(f"scored {self.done}/{self.total}", file=sys.stderr, flush=True)


def summary(scores: Sequence[Score], source: str) -> str:
    """One line: how many were scored (and their mean), how many not, by reason."""
    values = [s.value for s in scores if s.value is not None]
    reasons = Counter(s.reason.value for s in scores if s.reason is not None)
    mean = f" (mean value {sum(values) / len(values):.4f})" if values else ""
    unscored = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common())
    return (f"{source}: scored {len(values)} of {len(scores)} samples{mean}; unscored {len(scores) - len(values)}"
            + (f": {unscored}" if unscored else ""))


async def score_in_process(source: str | list[dict[str, Any]], options: dict[str, Any], samples: list[Sample],
                           size: int, progress: Any) -> list[Score]:
    """Score `samples` with `source` (a name or a mix in /v1/score's form) in this process, `size` at a time.
    Judges find the model cache and constitutions as the service would (the same settings and environment)."""
    from referee.judges import configure_judges

    from .schemas import ComponentSpec
    from .settings import load_settings
    from .sources import EnabledSources

    registry = Registry()
    # As the service does: what a source imports in its workers (sympy, pint's unit registry) is imported
    # once in the forkserver, not inside every item's deadline.
    async with Runtime(preload=["sympy", *registry.worker_preload(registry.names())]) as runtime:
        configure_judges(runtime, load_settings().judge_environment())
        spec = source if isinstance(source, str) else [ComponentSpec.model_validate(c) for c in source]
        built = EnabledSources(registry, runtime, None).resolve(spec, options)
        scores: list[Score] = []
        for batch in _batches(samples, size):
            scores += await score_batch(built, batch)
            if progress is not None:
                progress.update(len(batch))
        return scores


def _sources(args: argparse.Namespace) -> int:
    if args.url:
        from .client import RewardClient

        with RewardClient(args.url, api_key=args.api_key, retries=_CLI_RETRIES) as client:
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

