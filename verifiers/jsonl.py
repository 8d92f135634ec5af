"""The lines of a JSONL input file, as every command that reads one takes them."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError

__all__ = ["jsonl_lines"]


def jsonl_lines(path: Path, error: type[ConfigError] = ConfigError) -> list[tuple[int, str]]:
    """(line number, text) of each non-blank line of the UTF-8 file `path`. Lines end at newlines only: JSON text
    may hold U+2028, which `str.splitlines` would split. A file that is not UTF-8 raises `error`, naming the file
    and the byte, instead of a decoding traceback."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 JSONL") from exc
    return [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
