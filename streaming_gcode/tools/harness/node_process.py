# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A tool's `stream_node`: started as its own process, stopped like a terminal would.

The demo, the soak and the benchmark run the node exactly as deployed (its
own process, parameters on the command line, SIGINT for a clean shutdown with
its final stats line), in a session of its own so a Ctrl-C in the terminal
reaches only the tool, which then stops its source first and the node second,
with DDS discovery kept on this machine. Its output goes to a log file whose
tail is shown when it fails.
"""

from __future__ import annotations

import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import tempfile
from typing import Mapping, MutableMapping, Sequence

from streaming_gcode.core.errors import ConfigError

DOMAIN_ENV = "ROS_DOMAIN_ID"
DISCOVERY_ENV = "ROS_AUTOMATIC_DISCOVERY_RANGE"
DISCOVERY_LOCAL = "LOCALHOST"
DEMO_DOMAIN_RANGE = (100, 199)
DEMO_NAMESPACE_PREFIX = "/demo_"    # + process ID: this demo's topics, whatever else runs
MAX_DOMAIN_ID = 232                  # highest ID FastDDS maps to valid ports
NODE_STOP_TIMEOUT_S = 15.0
NODE_KILL_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 15
FINAL_STATS_MARK = "final stats:"    # the line the node prints when it shuts down
_NODE_MAIN = "import sys; from streaming_gcode.node.stream_node import main; sys.exit(main())"


def local_dds_environment(
    env: Mapping[str, str], rng: random.Random | None = None
) -> dict[str, str]:
    """`env` with discovery limited to this machine and a domain ID (kept if set)."""
    out = dict(env)
    out[DISCOVERY_ENV] = DISCOVERY_LOCAL
    raw = out.get(DOMAIN_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) > MAX_DOMAIN_ID:
            raise ConfigError(f"{DOMAIN_ENV}={raw!r}: expected an integer 0..{MAX_DOMAIN_ID}")
    else:
        out[DOMAIN_ENV] = str((rng or random.SystemRandom()).randint(*DEMO_DOMAIN_RANGE))
    return out


def use_local_dds(env: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Confine this process (and what it starts) to local DDS; return that environment.

    `env` (default: os.environ) gets the discovery range and the domain ID, so
    this process's own participants meet the node it starts.
    """
    target = os.environ if env is None else env
    local = local_dds_environment(target)
    target.update({DOMAIN_ENV: local[DOMAIN_ENV], DISCOVERY_ENV: local[DISCOVERY_ENV]})
    return local


def node_command(
    params_file: Path,
    parameters: Mapping[str, object],
    python: str = sys.executable,
    log_level: str = "info",
    namespace: str = "",
) -> list[str]:
    """Build the command line that runs `stream_node` with a params file and overrides."""
    command = [python, "-c", _NODE_MAIN, "--ros-args", "--params-file", str(params_file)]
    if namespace:
        command += ["-r", f"__ns:={namespace}"]
    for name, value in parameters.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        command += ["-p", f"{name}:={text}"]
    return command + ["--log-level", log_level]


def demo_namespace(pid: int | None = None) -> str:
    """Namespace of one demo run, so other nodes in the same DDS domain stay apart."""
    return f"{DEMO_NAMESPACE_PREFIX}{os.getpid() if pid is None else pid}"


def hardware_id(namespace: str) -> str:
    """Name the node's diagnostics hardware_id after the namespace (the demo finds its own)."""
    return "cnc" + namespace.replace("/", "_") if namespace else "cnc"


class NodeProcess:
    """One `stream_node` child process with its log file."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str],
                 namespace: str = "") -> None:
        self.namespace = namespace
        handle, name = tempfile.mkstemp(prefix="streaming_gcode_demo_node_", suffix=".log")
        self.log_path = Path(name)
        self._log = os.fdopen(handle, "wb")
        self.process = subprocess.Popen(
            list(command), env=dict(env), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """Process ID of the node."""
        return self.process.pid

    def running(self) -> bool:
        """Tell whether the node process still lives."""
        return self.process.poll() is None

    def stop(self) -> int | None:
        """SIGINT (clean shutdown), then SIGTERM, then SIGKILL; returns the exit code."""
        steps = ((signal.SIGINT, NODE_STOP_TIMEOUT_S), (signal.SIGTERM, NODE_KILL_TIMEOUT_S),
                 (signal.SIGKILL, NODE_KILL_TIMEOUT_S))
        for sig, timeout in steps:
            if self.process.poll() is not None:
                break
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()
        return self.process.poll()

    def _lines(self) -> list[str]:
        if not self._log.closed:
            self._log.flush()
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        """Return the last lines the node wrote."""
        return self._lines()[-lines:]

    def final_stats(self) -> str:
        """Return the node's final stats line (empty if it has not written one)."""
        return next((line.strip() for line in reversed(self._lines())
                     if FINAL_STATS_MARK in line), "")
