# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""One parameter's declaration as plain data: name, default, description, range, checks.

`ParamSpec` is what the node turns into a ROS parameter descriptor and what
checks a value before it is used; kept apart from the node's list of
parameters (core/parameters.py) so each module stays one job.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

# String parameters are bounded: every /diagnostics status carries hardware_id, and a
# name is copied into statuses and logs, so an unbounded one multiplies (a 2 MB id made
# each /diagnostics message 28 MB).
MAX_NAME_LENGTH = 256               # characters: names, ids, topics, choices
MAX_PATH_LENGTH = 4096              # characters: file paths (Linux PATH_MAX)
MAX_STRING_ARRAY_ITEMS = 4096       # entries of a string array (machines, streams, channels)
SHOWN_VALUE_CHARS = 80              # a refused value is quoted at most this long in a reason


def _shown(value: Any) -> str:
    """`repr(value)` cut to SHOWN_VALUE_CHARS: a refused 2 MB value must not fill the reason."""
    text = repr(value)
    if len(text) <= SHOWN_VALUE_CHARS:
        return text
    return f"{text[:SHOWN_VALUE_CHARS]}... ({len(text)} characters)"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: what it is, its default and the values it accepts."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    max_length: int = MAX_NAME_LENGTH   # characters of a string (each item of a string array)

    @property
    def kind(self) -> str:
        """ROS parameter type: bool, integer, double, string or string_array."""
        value = self.default
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, float):
            return "double"
        if isinstance(value, str):
            return "string"
        return "string_array"

    @property
    def constraints(self) -> str:
        """Human-readable constraints for the descriptor and the README."""
        parts = []
        if self.choices:
            parts.append("one of " + ", ".join(self.choices))
        if self.minimum is not None or self.maximum is not None:
            parts.append(f"range [{self.minimum}, {self.maximum}]")
        if self.kind in ("string", "string_array") and not self.choices:  # choices bound it
            parts.append(f"at most {self.max_length} characters"
                         + (f", {MAX_STRING_ARRAY_ITEMS} items" if self.kind == "string_array"
                            else ""))
        if self.read_only:
            parts.append("read-only at runtime (restart to change)")
        return "; ".join(parts)

    def check(self, value: Any) -> str | None:
        """Return why `value` is not acceptable, or None if it is."""
        kind = self.kind
        if kind == "bool" and not isinstance(value, bool):
            return f"{self.name} must be true or false, got {_shown(value)}"
        if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{self.name} must be an integer, got {_shown(value)}"
        if kind == "double":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{self.name} must be a number, got {_shown(value)}"
            if not math.isfinite(value):
                return f"{self.name} must be finite, got {value!r}"
        if kind == "string" and not isinstance(value, str):
            return f"{self.name} must be a string, got {_shown(value)}"
        if kind == "string_array" and (
            not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value)
        ):
            return f"{self.name} must be a list of strings, got {_shown(value)}"
        too_long = self._length_problem(value)
        if too_long:
            return too_long
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {list(self.choices)}, got {_shown(value)}"
        if self.minimum is not None and value < self.minimum:
            return f"{self.name} must be >= {self.minimum}, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"{self.name} must be <= {self.maximum}, got {value!r}"
        return None

    def _length_problem(self, value: Any) -> str | None:
        """Why a string (array) is too long, checked before anything quotes or copies it."""
        if self.kind == "string" and len(value) > self.max_length:
            return (f"{self.name} is {len(value)} characters long; at most "
                    f"{self.max_length} are accepted")
        if self.kind != "string_array":
            return None
        if len(value) > MAX_STRING_ARRAY_ITEMS:
            return (f"{self.name} has {len(value)} items; at most {MAX_STRING_ARRAY_ITEMS} "
                    "are accepted")
        for position, item in enumerate(value):
            if len(item) > self.max_length:
                return (f"{self.name}[{position}] is {len(item)} characters long; at most "
                        f"{self.max_length} are accepted")
        return None
