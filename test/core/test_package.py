# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Tests for the package's names and the lookup of its shipped files."""

from streaming_gcode.core import package
from streaming_gcode.core.stream_layout import StreamLayout


def test_shipped_files_are_found_in_the_source_tree() -> None:
    config = package.default_stream_config()
    assert config is not None and config.name == "stream.yaml"
    assert StreamLayout.from_yaml(config).stream_names[0] == "controller"
    candidates = package.share_candidates("models/full.pt")
    assert candidates[-1].parts[-2:] == ("models", "full.pt")
