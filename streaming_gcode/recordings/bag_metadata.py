# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Check a bag's metadata.yaml with bounds before rosbags parses it.

rosbags reads metadata.yaml (and the QoS YAML strings inside it) with a safe
loader that still expands aliases, so a 7 KB file of nested anchors costs
gigabytes and minutes. `check_bag_metadata` reads the file first: at most
`MAX_METADATA_BYTES`, no aliases (in the file or in its QoS strings), counts
that are non-negative integers and add up. The storage files repeat each
topic's QoS YAML (db3 `topics` table, mcap channel metadata), which rosbags
parses the same way: `check_storage_qos` bounds those. Any problem is one
`RecordingError`.
"""

from __future__ import annotations

from pathlib import Path
import sqlite3
from typing import Any

from mcap.reader import make_reader

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.stream_layout import load_bounded_yaml, parse_bounded_yaml

METADATA_FILE = "metadata.yaml"
MAX_METADATA_BYTES = 4 << 20  # rosbag2 writes a few KB; 4 MiB holds thousands of topics
BAG_INFORMATION_KEY = "rosbag2_bagfile_information"
QOS_KEY = "offered_qos_profiles"
MAX_QOS_BYTES = 1 << 20      # one topic's QoS YAML: about 500 bytes per publisher


def check_bag_metadata(bag: Path) -> None:
    """Refuse a metadata.yaml that is too large, uses aliases or has impossible counts."""
    path = bag / METADATA_FILE
    document = load_bounded_yaml(path, f"bag {bag}: metadata file", MAX_METADATA_BYTES,
                                 f"bag {bag}: Could not load YAML from {path}", RecordingError)
    info = document.get(BAG_INFORMATION_KEY) if isinstance(document, dict) else None
    if not isinstance(info, dict):
        return  # rosbags names the missing key
    topics = info.get("topics_with_message_count")
    if isinstance(topics, list):
        for entry in topics:
            _check_qos_string(bag, entry)
    _check_counts(bag, info.get("message_count"), topics)


def _check_qos_string(bag: Path, entry: Any) -> None:
    """Bound the offered QoS profiles too: they are a YAML document inside a string."""
    topic = entry.get("topic_metadata") if isinstance(entry, dict) else None
    qos = topic.get("offered_qos_profiles") if isinstance(topic, dict) else None
    if isinstance(qos, str):
        _check_qos(bag, topic.get("name", "?"), qos, METADATA_FILE)


def _check_qos(bag: Path, topic: Any, qos: str, where: str) -> None:
    if len(qos) > MAX_QOS_BYTES:
        raise RecordingError(f"bag {bag}: the offered QoS profiles of topic {topic} in {where} "
                             f"are {len(qos)} bytes; expected at most {MAX_QOS_BYTES}")
    if qos.strip():
        parse_bounded_yaml(qos, f"bag {bag}: Could not load YAML of the offered QoS profiles "
                                f"of topic {topic} in {where}", RecordingError)


def check_storage_qos(bag: Path) -> None:
    """Bound the QoS YAML in a bag's .db3/.mcap files (a folder's or a lone file's)."""
    files = sorted(bag.iterdir()) if bag.is_dir() else [bag]
    for path in files:
        if path.suffix == ".db3":
            qos = _sqlite_qos(path)
        elif path.suffix == ".mcap":
            qos = _mcap_qos(path)
        else:
            continue
        for topic, text in qos:
            _check_qos(bag, topic, text, path.name)


def _sqlite_qos(path: Path) -> list[tuple[str, str]]:
    """Return (topic, QoS text) of a db3; an unreadable file is left for rosbags to report."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute(f"SELECT name, {QOS_KEY} FROM topics").fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return []
    return [(str(name), text) for name, text in rows if isinstance(text, str)]


def _mcap_qos(path: Path) -> list[tuple[str, str]]:
    """Return (topic, QoS text) of an indexed mcap; others are left for rosbags to report."""
    try:
        with path.open("rb") as handle:
            summary = make_reader(handle).get_summary()
    except Exception:  # noqa: BLE001 - a damaged file is rosbags' to report
        return []
    if summary is None:
        return []
    return [(c.topic, c.metadata[QOS_KEY]) for c in summary.channels.values()
            if isinstance(c.metadata.get(QOS_KEY), str)]


def _count(bag: Path, value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RecordingError(
            f"bag {bag}: {METADATA_FILE} {what} is {value!r}; expected an integer >= 0"
        )
    return value


def _check_counts(bag: Path, total: Any, topics: Any) -> None:
    """Require message_count to be the sum of the topic counts (as rosbag2 writes it)."""
    if total is None or not isinstance(topics, list):
        return
    counted = 0
    for entry in topics:
        if isinstance(entry, dict) and "message_count" in entry:
            topic = entry.get("topic_metadata")
            name = topic.get("name", "?") if isinstance(topic, dict) else "?"
            counted += _count(bag, entry["message_count"], f"message_count of topic {name}")
    if _count(bag, total, "message_count") != counted:
        raise RecordingError(
            f"bag {bag}: {METADATA_FILE} message_count is {total} but its topics count "
            f"{counted} messages; expected them to agree"
        )
