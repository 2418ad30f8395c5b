# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Read rosbag2 bags (a folder with metadata.yaml, or one .mcap/.db3 file) without ROS.

Every failure (missing path, not a bag, truncated or corrupt storage, missing
topics, other message types, undecodable messages) is raised as one
`RecordingError` naming the bag and what is wrong, never as a library exception.
`bag_samples` gives the samples of a layout exactly as the node extracts them
(the same adapters), so offline evaluation of a bag sees the node's inputs.
"""

from __future__ import annotations

from pathlib import Path
import sqlite3
import struct
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from streaming_gcode.core.errors import MessageError, RecordingError
from streaming_gcode.core.stream_layout import parse_bounded_yaml, StreamLayout
from streaming_gcode.core.stream_spec import normalise_message_type
from streaming_gcode.ingestion.adapters import make_adapter
from streaming_gcode.recordings.bag_metadata import (
    check_bag_metadata,
    check_storage_qos,
    METADATA_FILE,
)
from streaming_gcode.recordings.bag_writer import (
    absolute_topic,
    REFERENCE_TOPIC,
    REFERENCE_TOPIC_KEY,
    STRING,
    TIME_OFFSET_KEY,
    typestore,
)

BAG_FILE_SUFFIXES: tuple[str, ...] = (".mcap", ".db3")
NO_FUTURE_LIMIT_NS = 2**62  # bag stamps are not checked against a clock
_STORAGE_ERRORS = (
    OSError, EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError,
    AssertionError, UnicodeDecodeError, struct.error, sqlite3.Error,
)


class TopicSummary(NamedTuple):
    """One topic of a bag as `ros2 bag info` lists it."""

    name: str
    msg_type: str
    count: int
    reliable: bool | None   # None when the bag recorded no offered QoS
    depth: int | None       # None when unknown (no QoS, or history not recorded)
    transient_local: bool
    type_hash: str


class BagInfo(NamedTuple):
    """Metadata of a bag."""

    path: Path
    storage: str
    start_ns: int
    end_ns: int
    message_count: int
    topics: dict[str, TopicSummary]
    custom_data: dict[str, str]

    @property
    def duration_ns(self) -> int:
        """Time between the first and the last message."""
        return max(0, self.end_ns - self.start_ns)

    @property
    def time_offset_ns(self) -> int:
        """Offset from recording stamps to bag time (bags from `csv2bag`), else 0."""
        raw = self.custom_data.get(TIME_OFFSET_KEY)
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError:
            raise RecordingError(
                f"bag {self.path}: custom_data {TIME_OFFSET_KEY} is {raw!r}; expected an integer"
            ) from None


class BagMessage(NamedTuple):
    """One recorded message: topic, type, log time and serialised CDR bytes."""

    topic: str
    msg_type: str
    log_time_ns: int
    data: bytes


def _storage_name(path: Path) -> str:
    if path.is_dir():
        return "mcap" if any(path.glob("*.mcap*")) else "sqlite3"
    return "mcap" if path.suffix == ".mcap" else "sqlite3"


def _qos_summary(connection: Any) -> tuple[bool | None, int | None, bool]:
    """Adapt the offered profiles as `ros2 bag play` does: reliable/durable if all were."""
    from rosbags.interfaces import QosDurability, QosHistory, QosReliability

    profiles = getattr(connection.ext, "offered_qos_profiles", None) or []
    if not profiles:
        return None, None, False
    reliable = all(p.reliability == QosReliability.RELIABLE for p in profiles)
    durable = all(p.durability == QosDurability.TRANSIENT_LOCAL for p in profiles)
    known = [int(p.depth) for p in profiles if p.history == QosHistory.KEEP_LAST and p.depth > 0]
    return reliable, (max(known) if known else None), durable


def _mcap_custom_data(path: Path) -> dict[str, str]:
    """Read custom_data from the rosbag2 metadata embedded in a lone .mcap file."""
    if path.suffix != ".mcap":
        return {}
    from mcap.reader import make_reader

    try:
        with path.open("rb") as handle:
            for record in make_reader(handle).iter_metadata():
                if record.name == "rosbag2":
                    document = parse_bounded_yaml(
                        record.metadata.get("serialized_metadata", ""), str(path), RecordingError
                    )
                    custom = document.get("custom_data") if isinstance(document, dict) else None
                    return dict(custom) if isinstance(custom, dict) else {}
    except Exception:  # noqa: BLE001 - an unindexed or damaged file simply has none
        return {}
    return {}


class Bag:
    """An open bag: metadata, time-ordered raw messages, deserialisation."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reader = _open_reader(self.path)
        try:
            self.info = self._read_info()
        except RecordingError:
            self.close()
            raise
        except _STORAGE_ERRORS as exc:
            self.close()
            raise RecordingError(f"bag {self.path}: unreadable metadata ({exc})") from None

    def _read_info(self) -> BagInfo:
        reader = self._reader
        topics: dict[str, TopicSummary] = {}
        for name, info in reader.topics.items():
            if info.msgtype is None:
                types = sorted({c.msgtype for c in info.connections})
                raise RecordingError(
                    f"bag {self.path}: topic {name} is recorded with several types {types}"
                )
            reliable, depth, durable = _qos_summary(info.connections[0])
            topics[name] = TopicSummary(
                name, info.msgtype, int(info.msgcount), reliable, depth, durable,
                str(info.connections[0].digest or ""),
            )
        custom = getattr(reader.storage.metadata, "custom", None) or _mcap_custom_data(self.path)
        count = int(reader.message_count)
        return BagInfo(
            path=self.path,
            storage=_storage_name(self.path),
            start_ns=int(reader.start_time) if count else 0,
            end_ns=int(reader.end_time) - 1 if count else 0,
            message_count=count,
            topics=topics,
            custom_data={str(k): str(v) for k, v in custom.items()},
        )

    def close(self) -> None:
        """Close the storage files (idempotent)."""
        if self._reader is not None and self._reader.is_open:
            try:
                self._reader.close()
            except _STORAGE_ERRORS:
                pass
        self._reader = None

    def __enter__(self) -> Bag:
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving the context."""
        self.close()

    def require_topics(self, expected: dict[str, str]) -> None:
        """Raise one error listing every missing topic and every topic of another type."""
        missing = [t for t in expected if t not in self.info.topics]
        wrong = [
            f"{t} is {self.info.topics[t].msg_type}, expected {normalise_message_type(m)}"
            for t, m in expected.items()
            if t in self.info.topics
            and self.info.topics[t].msg_type != normalise_message_type(m)
        ]
        problems = []
        if missing:
            problems.append(f"missing topics {missing} (bag has {sorted(self.info.topics)})")
        if wrong:
            problems.append("wrong message types: " + "; ".join(wrong))
        if problems:
            raise RecordingError(f"bag {self.path}: " + "; ".join(problems))

    def messages(
        self,
        topics: Iterable[str] | None = None,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> Iterator[BagMessage]:
        """Raw messages in log-time order, optionally of some topics and a time range."""
        if self._reader is None:
            raise RecordingError(f"bag {self.path} is closed")
        wanted = None if topics is None else {absolute_topic(t) for t in topics}
        if wanted is not None:
            unknown = sorted(wanted - set(self.info.topics))
            if unknown:
                raise RecordingError(
                    f"bag {self.path}: no topics {unknown}; bag has {sorted(self.info.topics)}"
                )
        connections = [
            c for c in self._reader.connections if wanted is None or c.topic in wanted
        ]
        if not connections:
            return
        try:
            for connection, stamp, data in self._reader.messages(connections, start_ns, stop_ns):
                yield BagMessage(connection.topic, connection.msgtype, int(stamp), bytes(data))
        except _STORAGE_ERRORS as exc:
            raise RecordingError(
                f"bag {self.path}: corrupt or truncated storage ({exc})"
            ) from None
        except Exception as exc:  # noqa: BLE001 - rosbags' ReaderError and friends
            raise RecordingError(f"bag {self.path}: unreadable messages ({exc})") from None

    def deserialize(self, message: BagMessage) -> Any:
        """Decode one message with the standard type definitions."""
        try:
            return typestore().deserialize_cdr(message.data, message.msg_type)
        except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad bag
            raise RecordingError(
                f"bag {self.path}: cannot decode {message.msg_type} on {message.topic} "
                f"at {message.log_time_ns} ns ({type(exc).__name__}: {exc})"
            ) from None


def _open_reader(path: Path) -> Any:
    from rosbags.rosbag2 import Reader

    if not path.exists():
        raise RecordingError(f"bag {path} does not exist")
    if path.is_dir() and not (path / METADATA_FILE).is_file():
        raise RecordingError(
            f"{path} is not a rosbag2 bag: no {METADATA_FILE} in the folder"
        )
    if path.is_file() and path.suffix not in BAG_FILE_SUFFIXES:
        raise RecordingError(
            f"{path} is not a bag: expected a folder with {METADATA_FILE} or a "
            f"{' or '.join(BAG_FILE_SUFFIXES)} file"
        )
    if path.is_dir():
        check_bag_metadata(path)  # before rosbags, whose YAML loader expands aliases
    check_storage_qos(path)
    try:
        reader = Reader(path)
        reader.open()
    except _STORAGE_ERRORS as exc:
        raise RecordingError(f"bag {path}: corrupt or truncated ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - rosbags' ReaderError and friends
        raise RecordingError(f"bag {path}: unreadable, corrupt or truncated ({exc})") from None
    return reader


def open_bag(path: str | Path) -> Bag:
    """Open a bag folder or a single .mcap/.db3 file."""
    return Bag(path)


def is_bag(path: Path) -> bool:
    """Tell whether `path` is a bag folder (with metadata.yaml) or a bag storage file."""
    if path.is_dir():
        return (path / METADATA_FILE).is_file()
    return path.is_file() and path.suffix in BAG_FILE_SUFFIXES


def find_bags(paths: Sequence[str | Path]) -> list[Path]:
    """Expand bags and folders of bags into a sorted list; error if none or a path is absent."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise RecordingError(f"bag {path} does not exist")
        if is_bag(path):
            found.append(path)
        elif path.is_dir():
            found.extend(p for p in sorted(path.iterdir()) if is_bag(p))
        else:
            raise RecordingError(
                f"{path} is not a bag: expected a folder with {METADATA_FILE} or a "
                f"{' or '.join(BAG_FILE_SUFFIXES)} file"
            )
    if not found:
        raise RecordingError(f"no bags in {[str(p) for p in paths]}")
    return found


def _as_bag(bag: Bag | str | Path) -> tuple[Bag, bool]:
    if isinstance(bag, Bag):
        return bag, False
    return open_bag(bag), True


def layout_topics(layout: StreamLayout) -> dict[str, str]:
    """Map the absolute topic of every stream of a layout to its message type."""
    return {absolute_topic(s.topic): normalise_message_type(s.msg_type) for s in layout.streams}


def bag_samples(
    bag: Bag | str | Path,
    layout: StreamLayout,
    rejected: dict[str, int] | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield `(stream_index, stamp_ns, values)` in log-time order, as the node extracts them.

    Stamps are header stamps (log time for headerless types). Malformed messages
    are skipped as the node skips them, and counted per stream in `rejected`.
    """
    bag, owned = _as_bag(bag)
    try:
        topics = layout_topics(layout)
        bag.require_topics(topics)
        index = {topic: i for i, topic in enumerate(topics)}
        adapters = [make_adapter(spec) for spec in layout.streams]
        for message in bag.messages(topics):
            i = index[message.topic]
            try:
                sample = adapters[i].adapt(bag.deserialize(message), NO_FUTURE_LIMIT_NS)
            except MessageError:
                if rejected is not None:
                    name = layout.streams[i].name
                    rejected[name] = rejected.get(name, 0) + 1
                continue
            stamp = message.log_time_ns if sample.stamp_ns is None else sample.stamp_ns
            yield i, stamp, sample.values
    finally:
        if owned:
            bag.close()


def reference_topic_of(bag: Bag) -> str:
    """Return the bag's reference topic: as recorded in custom_data, else the default."""
    return bag.info.custom_data.get(REFERENCE_TOPIC_KEY, absolute_topic(REFERENCE_TOPIC))


def bag_reference(
    bag: Bag | str | Path, topic: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Return the executed G-code lines of a bag: log-time stamps (int64) and texts.

    `std_msgs/String` has no header, so a line's stamp is its log time, which
    `csv2bag` sets to the row's time (and `ros2 bag record` to its receipt time).
    """
    bag, owned = _as_bag(bag)
    try:
        name = absolute_topic(topic) if topic else reference_topic_of(bag)
        bag.require_topics({name: STRING})
        stamps: list[int] = []
        lines: list[str] = []
        for message in bag.messages([name]):
            stamps.append(message.log_time_ns)
            lines.append(str(bag.deserialize(message).data))
        return np.asarray(stamps, dtype=np.int64), lines
    finally:
        if owned:
            bag.close()


def lines_at(
    stamps_ns: np.ndarray, lines: Sequence[str], query_ns: np.ndarray, missing: str = ""
) -> list[str]:
    """Return the newest line stamped at or before each query stamp (`missing` if none)."""
    positions = np.searchsorted(np.asarray(stamps_ns), np.asarray(query_ns), side="right") - 1
    return [lines[p] if p >= 0 else missing for p in positions]


def recording_stamps(info: BagInfo, bag_stamps_ns: np.ndarray) -> np.ndarray:
    """Put bag stamps back on the recording's time base (undo csv2bag's offset)."""
    return np.asarray(bag_stamps_ns, dtype=np.int64) - info.time_offset_ns
