# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Which program library a checkpoint carries: the controller's or the physics witness's.

Both answer the same question per frame (`ProgramReading`) through the same
tracker interface (`observe(stamp_ns, inputs)` over `input_channels`), so the
engine, offline evaluation and the node treat them alike.
"""

from __future__ import annotations

from typing import Any, Mapping, Union

import numpy as np

from streaming_gcode.core.errors import ModelConfigError
from streaming_gcode.model.program_library import LIBRARY_FORMAT, ProgramLibrary, ProgramTracker
from streaming_gcode.model.progress_library import PROGRESS_FORMATS, ProgressLibrary
from streaming_gcode.model.progress_tracker import ProgressTracker

Library = Union[ProgramLibrary, ProgressLibrary]
Tracker = Union[ProgramTracker, ProgressTracker]
_READERS = {LIBRARY_FORMAT: ProgramLibrary, **{f: ProgressLibrary for f in PROGRESS_FORMATS}}


def library_from_dict(data: Mapping[str, Any], where: str = "program library") -> Library:
    """Read whichever library `data` holds, by its format; one clear error otherwise."""
    kind = data.get("format") if isinstance(data, Mapping) else None
    if kind not in _READERS:
        raise ModelConfigError(f"{where}: format {kind!r} unknown; expected one of "
                               f"{sorted(_READERS)}")
    return _READERS[kind].from_dict(data, where)


def tracker_of(library: Library, fill_values: np.ndarray | None = None) -> Tracker:
    """Return a fresh tracker of `library` (the physics witness's is a module of its own).

    `fill_values` [input_channels]: what the aligner gives a stream that is not
    reporting; the physics witness skips such inputs (a missing board says nothing
    about the machine). The controller's library reads the frame clock's own
    channels, which are never filled, so it takes none.
    """
    if isinstance(library, ProgressLibrary):
        return ProgressTracker(library, fill_values=fill_values)
    return library.tracker()


__all__ = ["Library", "Tracker", "library_from_dict", "tracker_of"]
