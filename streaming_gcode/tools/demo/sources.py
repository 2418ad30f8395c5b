# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Which source the demo runs, and the warm start that fills the model window fast.

The demo feeds the node from the best source available: a bag (`--bag`), a
recorded run or folder of runs (`--data`), the Bantam dataset next to the
repository (or at `$STREAMING_GCODE_DATA`), the one small real recording
shipped with the package (a validation run, so a fresh clone shows the real
model on real data), and only then the built-in simulated cell (or when asked:
`--source sim`). Pure Python: sources produce `SourceFrame`s (the harness's
records), the harness's publisher sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.package import find_shared_file, repository_root
from streaming_gcode.tools.harness.source_frames import SourceFrame

DATA_ENV = "STREAMING_GCODE_DATA"
DATASET_RELATIVE = Path("shared") / "data" / "bantam_cnc"   # next to the repository
KIND_BAG = "bag"
KIND_RECORDING = "recording"
KIND_SIMULATED = "simulated"
SIMULATED_SOURCE_NAME = "simulated"
SOURCE_AUTO = "auto"                   # the first available, in the order above
SOURCE_SIMULATED = "sim"
SOURCES: tuple[str, ...] = (SOURCE_AUTO, SOURCE_SIMULATED)
SHIPPED_RUN = "face150025_016"         # a validation run of the Bantam dataset
SHIPPED_RECORDING = f"recordings/{SHIPPED_RUN}"   # share/streaming_gcode/..., a rosbag2 bag
WARM_START_SPEED = 8.0                 # how much faster the first model window is sent


@dataclass(frozen=True)
class SourceChoice:
    """The source the demo will run and why."""

    kind: str                  # KIND_BAG, KIND_RECORDING or KIND_SIMULATED
    path: Path | None          # bag folder/file, run file or folder of runs
    reason: str                # how it was chosen, for the header


def default_dataset(env: Mapping[str, str] | None = None, root: Path | None = None) -> Path:
    """Where the Bantam dataset is looked for: `$STREAMING_GCODE_DATA`, else ../shared."""
    env = os.environ if env is None else env
    if env.get(DATA_ENV):
        return Path(env[DATA_ENV]).expanduser()
    return (root or repository_root()).parent / DATASET_RELATIVE


def shipped_recording() -> Path | None:
    """Return the bag folder of the recording shipped with the package, if installed."""
    metadata = find_shared_file(f"{SHIPPED_RECORDING}/metadata.yaml")
    return metadata.parent if metadata is not None else None


def choose_source(
    bag: str | None = None,
    data: str | None = None,
    env: Mapping[str, str] | None = None,
    root: Path | None = None,
    source: str = SOURCE_AUTO,
    shipped: Callable[[], Path | None] = shipped_recording,
) -> SourceChoice:
    """Bag > given run(s) > the dataset > the shipped recording > the simulated cell.

    An explicit `bag` or `data` that does not exist is an error (the user asked for
    it); the default dataset being absent is not. `source="sim"` asks for the
    simulated cell whatever else exists.
    """
    if source not in SOURCES:
        raise ConfigError(f"--source {source!r}: expected one of {', '.join(SOURCES)}")
    if source == SOURCE_SIMULATED:
        if bag or data:
            raise ConfigError("--source sim runs the simulated cell: drop --bag/--data")
        return SourceChoice(KIND_SIMULATED, None, "asked for (--source sim)")
    if bag:
        path = Path(bag).expanduser()
        if not path.exists():
            raise ConfigError(f"--bag {bag}: no such bag folder or file")
        return SourceChoice(KIND_BAG, path, f"bag {path}")
    if data:
        path = Path(data).expanduser()
        if not path.exists():
            raise ConfigError(f"--data {data}: no such run file or folder")
        return SourceChoice(KIND_RECORDING, path, f"--data {path}")
    dataset = default_dataset(env, root)
    if dataset.is_dir() and any(p.name.endswith(("_aligned.csv.gz", "_aligned.csv"))
                                for p in dataset.iterdir()):
        return SourceChoice(KIND_RECORDING, dataset, f"dataset at {dataset}")
    recording = shipped()
    if recording is not None:
        return SourceChoice(KIND_BAG, recording, f"shipped recording (no dataset at {dataset})")
    return SourceChoice(KIND_SIMULATED, None, f"no recording found at {dataset}")


def warm_start(frames: Iterable[SourceFrame], count: int,
               factor: float = WARM_START_SPEED) -> Iterator[SourceFrame]:
    """Send the first `count` frames `factor` times faster, then keep the source's pace.

    The node predicts only once its model window is full; compressing the time of
    those first frames (stamps and due times alike, so stamps stay on the
    publisher's clock) fills it in seconds instead of a window's worth of real
    time. Frame contents and order are unchanged.
    """
    if not factor >= 1:
        raise ConfigError(f"warm-start factor must be >= 1, got {factor}")
    shift = 0
    first_due: int | None = None
    for index, frame in enumerate(frames):
        if first_due is None:
            first_due = frame.due_ns
        if index < count:
            shift = frame.due_ns - (first_due + int(round((frame.due_ns - first_due) / factor)))
        yield _shifted(frame, shift) if shift else frame


def _shifted(frame: SourceFrame, shift_ns: int) -> SourceFrame:
    samples = tuple((index, stamp - shift_ns, values) for index, stamp, values in frame.samples)
    executed = frame.executed
    if executed is not None:
        executed = executed._replace(stamp_ns=executed.stamp_ns - shift_ns)
    return SourceFrame(frame.due_ns - shift_ns, samples, executed)
