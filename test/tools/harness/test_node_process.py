# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The demo's node process: local-only DDS environment and the node's command line."""

from pathlib import Path
import random
import sys
import time

import pytest

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.tools.harness.node_process import (
    DEMO_DOMAIN_RANGE, demo_namespace, DISCOVERY_ENV, DOMAIN_ENV, hardware_id,
    local_dds_environment, node_command, NodeProcess, use_local_dds,
)


def test_discovery_is_local_and_a_set_domain_is_kept():
    env = local_dds_environment({DOMAIN_ENV: "42", "HOME": "/h"})
    assert env == {DOMAIN_ENV: "42", DISCOVERY_ENV: "LOCALHOST", "HOME": "/h"}


def test_a_domain_is_picked_when_none_is_set():
    env = local_dds_environment({DOMAIN_ENV: " "}, random.Random(3))
    low, high = DEMO_DOMAIN_RANGE
    assert low <= int(env[DOMAIN_ENV]) <= high
    assert env[DISCOVERY_ENV] == "LOCALHOST"


def test_this_process_is_confined_to_the_same_local_domain():
    env = {DOMAIN_ENV: "42", "HOME": "/h"}
    assert use_local_dds(env) == {DOMAIN_ENV: "42", DISCOVERY_ENV: "LOCALHOST", "HOME": "/h"}
    assert env[DISCOVERY_ENV] == "LOCALHOST"
    unset: dict[str, str] = {}
    chosen = use_local_dds(unset)
    assert unset == {DOMAIN_ENV: chosen[DOMAIN_ENV], DISCOVERY_ENV: "LOCALHOST"}


def test_a_bad_domain_is_refused():
    with pytest.raises(ConfigError, match=r"ROS_DOMAIN_ID='abc': expected an integer 0..232"):
        local_dds_environment({DOMAIN_ENV: "abc"})


def test_node_command_passes_params_file_and_overrides():
    command = node_command(Path("/cfg/stream.yaml"),
                           {"allow_random_model": True, "checkpoint": "/m/full.pt"},
                           python="/py", log_level="warn")
    assert command[:2] == ["/py", "-c"]
    assert "from streaming_gcode.node.stream_node import main" in command[2]
    assert command[3:] == [
        "--ros-args", "--params-file", "/cfg/stream.yaml",
        "-p", "allow_random_model:=true", "-p", "checkpoint:=/m/full.pt", "--log-level", "warn",
    ]


def test_each_demo_run_has_its_own_namespace_and_hardware_id():
    assert demo_namespace(4821) == "/demo_4821"
    assert hardware_id("/demo_4821") == "cnc_demo_4821"
    assert hardware_id("") == "cnc"
    command = node_command(Path("/c.yaml"), {}, python="/py", namespace="/demo_7")
    assert command[3:8] == ["--ros-args", "--params-file", "/c.yaml", "-r", "__ns:=/demo_7"]


def test_node_process_stops_a_child_and_keeps_its_output():
    child = NodeProcess([sys.executable, "-c",
                         "import signal, sys, time\n"
                         "signal.signal(signal.SIGINT, lambda *_: (print('bye', flush=True),"
                         " sys.exit(0)))\n"
                         "print('up', flush=True)\n"
                         "time.sleep(60)\n"], {"PATH": "/usr/bin:/bin"})
    try:
        deadline = time.monotonic() + 30.0
        while not child.log_tail() and time.monotonic() < deadline:
            time.sleep(0.05)   # the child has to install its handler before the signal
        assert child.running()
        assert child.stop() == 0
        assert child.log_tail() == ["up", "bye"]
    finally:
        if child.running():
            child.process.kill()
        child.log_path.unlink(missing_ok=True)


def test_the_final_stats_line_is_found_in_the_log():
    child = NodeProcess([sys.executable, "-c",
                         "print('[streaming_gcode] final stats: 3 frames')\n"
                         "print('shutting down')\n"], {"PATH": "/usr/bin:/bin"})
    try:
        assert child.process.wait(30.0) == 0
        assert child.final_stats() == "[streaming_gcode] final stats: 3 frames"
        assert child.log_tail(1) == ["shutting down"]
        assert child.stop() == 0
    finally:
        if child.running():
            child.process.kill()
        child.log_path.unlink(missing_ok=True)
