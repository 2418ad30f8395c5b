# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Recorded runs as standard rosbag2 bags (MCAP or sqlite3, CDR, metadata.yaml).

A bag holds exactly what the live node would receive from the cell: one message
per stream and row (`recording.run_samples`, so offline alignment sees the same
samples), stamped with the row's time, plus the executing G-code line on a
reference topic. Bags are written with `rosbags` in rosbag2 format version 8,
which `ros2 bag info` and `ros2 bag play` read on Jazzy and Kilted (version 9,
Kilted's own, changed the QoS encoding and is not readable by Jazzy).

Time mapping: the dataset stamps rows with the wall-clock time of day only. A bag
needs absolute time, so a row at `HH:MM:SS.mmm` is stamped `RECORDING_DATE` (UTC)
plus that time of day. Stamps that are already absolute (after 2001) are kept.
The offset used is stored in the bag's `custom_data` (`TIME_OFFSET_KEY`) so
anything comparing bag stamps with CSV stamps can undo it (`from_bag_time`).
"""

from __future__ import annotations

import functools
from pathlib import Path
import shutil
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.core.stream_spec import (
    FLOAT32_ARRAY,
    FLOAT64_ARRAY,
    IMU,
    JOINT_STATE,
    JOINT_STATE_FIELDS,
    normalise_message_type,
    NS_PER_S,
    StreamSpec,
)
from streaming_gcode.recordings.csv_runs import load_run, RecordedRun, run_name, run_samples

STORAGE_MCAP = "mcap"
STORAGE_SQLITE3 = "sqlite3"
STORAGES: tuple[str, ...] = (STORAGE_MCAP, STORAGE_SQLITE3)
DEFAULT_STORAGE = STORAGE_MCAP
COMPRESSION_NONE = "none"
COMPRESSION_FILE = "file"          # the storage file zstd-compressed whole (rosbag2's file mode)
COMPRESSION_MESSAGE = "message"    # each message zstd-compressed
COMPRESSIONS: tuple[str, ...] = (COMPRESSION_NONE, COMPRESSION_FILE, COMPRESSION_MESSAGE)
DEFAULT_COMPRESSION = COMPRESSION_NONE
BAG_FORMAT_VERSION = 8

STRING = "std_msgs/msg/String"
CLOCK = "rosgraph_msgs/msg/Clock"
REFERENCE_TOPIC = "cnc/executing_line"
REFERENCE_DEPTH = 20

RECORDING_DATE = "2025-01-01"
RECORDING_EPOCH_NS = 1_735_689_600 * NS_PER_S   # RECORDING_DATE 00:00:00 UTC
ABSOLUTE_TIME_MIN_NS = 1_000_000_000 * NS_PER_S  # 2001-09-09: stamps above are absolute

TIME_OFFSET_KEY = "streaming_gcode.time_offset_ns"
SOURCE_RUN_KEY = "streaming_gcode.source_run"
REFERENCE_TOPIC_KEY = "streaming_gcode.reference_topic"
ROWS_KEY = "streaming_gcode.rows"


class BagSummary(NamedTuple):
    """What one conversion wrote."""

    path: Path
    messages: int
    start_ns: int
    end_ns: int
    topic_counts: dict[str, int]


@functools.cache
def typestore() -> Any:
    """Return the rosbags type store with the standard ROS 2 (Kilted) definitions.

    The definitions of the types used here are identical in Humble, Jazzy and
    Kilted (same RIHS01 type hashes), so bags play on any of them.
    """
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def absolute_topic(topic: str) -> str:
    """Return the topic name as `ros2 bag record` stores it in the root namespace."""
    return topic if topic.startswith("/") else "/" + topic


def time_offset_ns(stamps_ns: np.ndarray) -> int:
    """Return the offset that turns a run's stamps into epoch time (see module doc)."""
    if len(stamps_ns) and int(stamps_ns[0]) >= ABSOLUTE_TIME_MIN_NS:
        return 0
    return RECORDING_EPOCH_NS


def to_bag_time(stamp_ns: int, offset_ns: int = RECORDING_EPOCH_NS) -> int:
    """Turn a recording stamp (ns since the start of the day) into bag time (ns since epoch)."""
    return int(stamp_ns) + offset_ns


def from_bag_time(stamp_ns: int, offset_ns: int = RECORDING_EPOCH_NS) -> int:
    """Undo `to_bag_time`."""
    return int(stamp_ns) - offset_ns


def qos_profile(reliable: bool, depth: int) -> Any:
    """Build an offered QoS profile as `ros2 bag record` stores it (keep-last, volatile)."""
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    default = QosTime(0, 0)  # RMW default: no deadline, infinite lifespan and lease
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=int(depth),
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.VOLATILE,
        deadline=default,
        lifespan=default,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=default,
        avoid_ros_namespace_conventions=False,
    )


def _stamp(stamp_ns: int) -> Any:
    types = typestore().types
    return types["builtin_interfaces/msg/Time"](
        sec=stamp_ns // NS_PER_S, nanosec=stamp_ns % NS_PER_S
    )


def _header(stamp_ns: int) -> Any:
    return typestore().types["std_msgs/msg/Header"](stamp=_stamp(stamp_ns), frame_id="")


def _joint_state_builder(spec: StreamSpec) -> Callable[[int, np.ndarray], Any]:
    if spec.field not in JOINT_STATE_FIELDS:
        raise RecordingError(f"stream {spec.name!r}: JointState field {spec.field!r} unknown")
    cls = typestore().types[JOINT_STATE]
    names = list(spec.channels)
    empty = np.zeros(0, dtype=np.float64)

    def build(stamp_ns: int, values: np.ndarray) -> Any:
        fields = {f: empty for f in JOINT_STATE_FIELDS}
        fields[spec.field] = np.asarray(values, dtype=np.float64)
        return cls(header=_header(stamp_ns), name=names, **fields)

    return build


def _array_builder(spec: StreamSpec, dtype: type) -> Callable[[int, np.ndarray], Any]:
    types = typestore().types
    msg_type = normalise_message_type(spec.msg_type)
    cls = types[msg_type]
    layout_cls = types["std_msgs/msg/MultiArrayLayout"]
    dim_cls = types["std_msgs/msg/MultiArrayDimension"]

    def build(stamp_ns: int, values: np.ndarray) -> Any:
        """One sample `[channels]`, or a batch `[samples, channels]` (dense row-major)."""
        values = np.asarray(values, dtype=dtype)
        dims = []
        if values.ndim == 2:
            samples, channels = values.shape
            dims = [dim_cls(label="samples", size=samples, stride=samples * channels),
                    dim_cls(label="channels", size=channels, stride=channels)]
        return cls(layout=layout_cls(dim=dims, data_offset=0), data=values.reshape(-1))

    return build


def _imu_builder(spec: StreamSpec) -> Callable[[int, np.ndarray], Any]:
    types = typestore().types
    cls = types[IMU]
    quaternion, vector3 = types["geometry_msgs/msg/Quaternion"], types["geometry_msgs/msg/Vector3"]
    covariance = np.zeros(9, dtype=np.float64)

    def build(stamp_ns: int, values: np.ndarray) -> Any:
        parts: dict[str, dict[str, float]] = {
            "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0},
            "angular_velocity": {"x": 0.0, "y": 0.0, "z": 0.0},
            "linear_acceleration": {"x": 0.0, "y": 0.0, "z": 0.0},
        }
        for channel, value in zip(spec.channels, values):
            group, axis = channel.split(".")
            parts[group][axis] = float(value)
        return cls(
            header=_header(stamp_ns),
            orientation=quaternion(**parts["orientation"]),
            orientation_covariance=covariance,
            angular_velocity=vector3(**parts["angular_velocity"]),
            angular_velocity_covariance=covariance,
            linear_acceleration=vector3(**parts["linear_acceleration"]),
            linear_acceleration_covariance=covariance,
        )

    return build


def message_builder(spec: StreamSpec) -> Callable[[int, np.ndarray], Any]:
    """Return a function `(bag_stamp_ns, values) -> message` for a stream of the layout."""
    msg_type = normalise_message_type(spec.msg_type)
    if msg_type == JOINT_STATE:
        return _joint_state_builder(spec)
    if msg_type == FLOAT32_ARRAY:
        return _array_builder(spec, np.float32)
    if msg_type == FLOAT64_ARRAY:
        return _array_builder(spec, np.float64)
    if msg_type == IMU:
        return _imu_builder(spec)
    raise RecordingError(f"stream {spec.name!r}: cannot write message type {spec.msg_type!r}")


def string_message(text: str) -> Any:
    """Build a `std_msgs/msg/String`."""
    return typestore().types[STRING](data=text)


def serialize(message: Any, msg_type: str) -> bytes:
    """Serialise to CDR bytes (with encapsulation header) as published on the wire."""
    return bytes(typestore().serialize_cdr(message, normalise_message_type(msg_type)))


def bag_path_for(out_dir: str | Path, run_name: str) -> Path:
    """Return where the bag of a run goes: a folder named after the run."""
    return Path(out_dir) / run_name


def _open_writer(path: Path, storage: str, overwrite: bool,
                 compression: str = DEFAULT_COMPRESSION) -> Any:
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

    if storage not in STORAGES:
        raise RecordingError(f"storage {storage!r} is not supported; expected one of {STORAGES}")
    if compression not in COMPRESSIONS:
        raise RecordingError(f"compression {compression!r} is not supported; expected one of "
                             f"{COMPRESSIONS}")
    if path.exists():
        if not overwrite:
            raise RecordingError(
                f"{path} exists already; remove it or allow overwriting (--overwrite)"
            )
        if path.is_dir() and (path / "metadata.yaml").is_file():
            shutil.rmtree(path)
        else:
            raise RecordingError(f"{path} exists and is not a rosbag2 bag; not overwriting it")
    plugin = StoragePlugin.MCAP if storage == STORAGE_MCAP else StoragePlugin.SQLITE3
    writer = Writer(path, version=BAG_FORMAT_VERSION, storage_plugin=plugin)
    if compression != COMPRESSION_NONE:
        mode = CompressionMode.FILE if compression == COMPRESSION_FILE else CompressionMode.MESSAGE
        writer.set_compression(mode, CompressionFormat.ZSTD)
    writer.open()
    return writer


class _RunWriter:
    """Writes one run's samples and reference lines into an open rosbags writer."""

    def __init__(self, writer: Any, layout: StreamLayout, reference_topic: str) -> None:
        store = typestore()
        self.writer = writer
        self.builders = [message_builder(spec) for spec in layout.streams]
        self.types = [normalise_message_type(spec.msg_type) for spec in layout.streams]
        self.connections = [
            writer.add_connection(
                absolute_topic(spec.topic), msg_type, typestore=store,
                offered_qos_profiles=[qos_profile(spec.reliable, spec.depth)],
            )
            for spec, msg_type in zip(layout.streams, self.types)
        ]
        self.reference = writer.add_connection(
            absolute_topic(reference_topic), STRING, typestore=store,
            offered_qos_profiles=[qos_profile(True, REFERENCE_DEPTH)],
        )

    def sample(self, index: int, bag_ns: int, values: np.ndarray) -> None:
        message = self.builders[index](bag_ns, values)
        self.writer.write(self.connections[index], bag_ns, serialize(message, self.types[index]))

    def line(self, bag_ns: int, text: str) -> None:
        self.writer.write(self.reference, bag_ns, serialize(string_message(text), STRING))


def write_run_bag(
    run: RecordedRun,
    layout: StreamLayout,
    path: str | Path,
    storage: str = DEFAULT_STORAGE,
    reference_topic: str = REFERENCE_TOPIC,
    overwrite: bool = False,
    progress: Callable[[int], Any] | None = None,
    compression: str = DEFAULT_COMPRESSION,
) -> BagSummary:
    """Write one run as a rosbag2 bag folder at `path`; `progress(rows)` is called as rows go.

    Every topic of the layout is in the bag even when the run has no data for it
    (a board that was not fitted): the node then sees a stream that stays stale,
    as offline alignment does.
    """
    path = Path(path)
    offset = time_offset_ns(run.stamps_ns)
    writer = _open_writer(path, storage, overwrite, compression)
    try:
        out = _RunWriter(writer, layout, reference_topic)
        writer.set_custom_data(TIME_OFFSET_KEY, str(offset))
        writer.set_custom_data(SOURCE_RUN_KEY, run.name)
        writer.set_custom_data(REFERENCE_TOPIC_KEY, absolute_topic(reference_topic))
        writer.set_custom_data(ROWS_KEY, str(len(run)))
        stamps = run.stamps_ns
        row = 0
        for index, stamp, values in run_samples(run, layout):
            while row < len(run) and stamps[row] < stamp:
                out.line(to_bag_time(stamps[row], offset), run.gcode[row])
                row += 1
                if progress is not None:
                    progress(1)
            out.sample(index, to_bag_time(stamp, offset), values)
        for rest in range(row, len(run)):
            out.line(to_bag_time(stamps[rest], offset), run.gcode[rest])
        if progress is not None and row < len(run):
            progress(len(run) - row)
        counts = {c.topic: writer.counts[c.id] for c in writer.connections}
        start, end = writer.min_timestamp, writer.max_timestamp
        writer.close()
    except BaseException:
        writer.abort()
        shutil.rmtree(path, ignore_errors=True)
        raise
    return BagSummary(path, sum(counts.values()), start, end, counts)


def write_run_bags(
    runs: Sequence[Path],
    layout: StreamLayout,
    out_dir: str | Path,
    storage: str = DEFAULT_STORAGE,
    reference_topic: str = REFERENCE_TOPIC,
    overwrite: bool = False,
    show_progress: bool = True,
    compression: str = DEFAULT_COMPRESSION,
) -> list[BagSummary]:
    """Convert run files into one bag each under `out_dir`, with progress bars."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries: list[BagSummary] = []
    for run_file in tqdm(runs, desc="runs", unit="run", disable=not show_progress):
        run = load_run(run_file)
        with tqdm(
            total=len(run), desc=run.name, unit="row", leave=False, disable=not show_progress
        ) as bar:
            summaries.append(
                write_run_bag(
                    run, layout, bag_path_for(out, run.name), storage, reference_topic,
                    overwrite, progress=bar.update, compression=compression,
                )
            )
    return summaries


def write_missing_run_bags(
    runs: Sequence[Path],
    layout: StreamLayout,
    out_dir: str | Path,
    progress: Callable[[str], Any] = print,
) -> list[Path]:
    """Return the bag of each run under `out_dir`, converting only the runs not converted yet.

    For a working folder used again and again (soak): a bag with its
    metadata.yaml is complete, since a failed write removes its folder.
    """
    bags = []
    for run_file in runs:
        path = bag_path_for(out_dir, run_name(Path(run_file)))
        if not (path / "metadata.yaml").is_file():
            progress(f"converting {Path(run_file).name} -> {path}")
            write_run_bag(load_run(run_file), layout, path, overwrite=True)
        bags.append(path)
    return bags
