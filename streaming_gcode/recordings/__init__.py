# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Recordings: the dataset's CSV runs and rosbag2 bags, read and written without ROS.

`csv_runs` reads recorded runs into per-stream samples in a layout's order,
`bag_writer` turns them into bags (MCAP or sqlite3, CDR) and `bag_reader` reads
bags back. Playing a bag into the graph is a tool (tools/harness/bag_player).
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "csv_runs": ("RecordedRun", "find_runs", "load_run", "run_samples"),
    "bag_writer": ("BagSummary", "write_run_bag", "write_run_bags"),
    "bag_reader": ("Bag", "find_bags", "open_bag"),
})
