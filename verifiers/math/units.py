"""Physical units on answers, converted with pint: `2 km` is `2000 m`, `3 hours` is `180 minutes`, and
`5 m` is not `5 cm`.

Policy (applied in `equivalence` when both the gold and the response carry a unit):
- both units known to pint and of the same dimension: the values are compared after converting the
  response into the gold's unit;
- both known, different dimensions (`5 m` against `5 kg`, `5 cm` against `5 cm^2`): not equal;
- either unknown to pint (`apples`, `dollars`, `yuan`, `points`): the units are ignored, as when only
  one side has a unit (`8 inches` against `8`), because the question fixes the unit and the words
  around a number are often just its noun.

The vocabulary is `units.txt` beside this module (pint's definition syntax): a curated list builds in a
few milliseconds where pint's full registry takes most of a second. Importing pint itself takes about
half a second, so the worker pool imports this module in its forkserver (`MathVerifier.worker_preload`)
and every worker inherits it; anything else imports it only when an answer pair has units on both sides.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

__all__ = ["conversion"]

try:
    import pint
except ImportError:  # pint is a dependency; without it units are ignored, as before it was added
    pint = None  # type: ignore[assignment]

_DEFINITIONS = Path(__file__).with_name("units.txt")


@functools.cache
def _registry() -> Any:
    if pint is None:
        return None
    registry: Any = pint.UnitRegistry(None)
    registry.load_definitions(str(_DEFINITIONS))
    return registry

_SPACES = re.compile(r"\s+")
_ALIASES = {"sq ft": "ft^2", "sq m": "m^2", "sq in": "inch^2", "sq cm": "cm^2", "sq km": "km^2",
            "sq mi": "mile^2", "sq yd": "yd^2", "cu ft": "ft^3", "cu m": "m^3", "cu cm": "cm^3",
            "hrs": "hour", "yrs": "year", "mins": "minute", "secs": "second", "cc": "cm^3", "kph": "km/hour",
            "inches": "inch", "feet": "foot", "ml": "mL"}
_NOT_UNITS = frozenset({"a", "am", "pm", "at", "an", "point", "points", "percent", "cent", "cents", "degree",
                        "degrees", "unit", "units", "square", "count"})


@functools.lru_cache(maxsize=512)
def _parse(text: str) -> Any:
    """The pint unit of `text`, or None when pint does not know it as a unit."""
    registry = _registry()
    if registry is None:
        return None
    key = _SPACES.sub(" ", text.replace("\\", "").strip())
    key = _ALIASES.get(key.lower(), key)
    if not key or key.lower() in _NOT_UNITS or not any(c.isalpha() for c in key):
        return None
    try:
        unit = registry.parse_units(key)
    except Exception:  # pint raises several error types (undefined unit, syntax); all mean "not a unit"
        return None
    return None if unit.dimensionless else unit


def conversion(gold_unit: str, response_unit: str) -> float | bool | None:
    """The factor that turns a value in `response_unit` into `gold_unit`; False when the two are of
    different dimensions; None when either is not a known physical unit (then units are ignored)."""
    g, r = _parse(gold_unit), _parse(response_unit)
    if g is None or r is None:
        return None
    if g == r:
        return 1.0
    if g.dimensionality != r.dimensionality:
        return False
    return float(_registry().Quantity(1.0, r).to(g).magnitude)
