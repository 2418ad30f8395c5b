# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Start the streaming_gcode node with a params file and the usual overrides.

    ros2 launch streaming_gcode stream.launch.py \
        [params_file:=...] [checkpoint:=...] [model:=full|physical] \
        [allow_random_model:=true] [namespace:=...] [use_sim_time:=true] [log_level:=debug] \
        [autostart:=false]

An empty `checkpoint`, `model`, `allow_random_model` or `autostart` leaves the value of the
params file (or the node's default) alone, so a params file stays the single
place where a deployment is described.
"""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "streaming_gcode"
EXECUTABLE = "stream_node"
NODE_NAME = "streaming_gcode"
MODEL_CHOICES = ("", "full", "physical")
BOOL_CHOICES = ("true", "false")
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
# Launch arguments that override their parameter only when given a non-empty value.
OPTIONAL_STRING_OVERRIDES = ("checkpoint", "model")
OPTIONAL_BOOL_OVERRIDES = ("allow_random_model", "autostart")


def _arguments() -> list[DeclareLaunchArgument]:
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "stream.yaml"])
    return [
        DeclareLaunchArgument(
            "params_file", default_value=default_params,
            description="Node parameters (stream layout, alignment, model, thresholds)."),
        DeclareLaunchArgument(
            "checkpoint", default_value="",
            description="Checkpoint file; empty = the params file's value, else the shipped "
                        "model selected by `model`."),
        DeclareLaunchArgument(
            "model", default_value="", choices=list(MODEL_CHOICES),
            description="Shipped model when no checkpoint is given: full | physical; "
                        "empty = the params file's value."),
        DeclareLaunchArgument(
            "allow_random_model", default_value="", choices=["", *BOOL_CHOICES],
            description="Run a randomly initialised model when no checkpoint is found "
                        "(testing only); empty = the params file's value."),
        DeclareLaunchArgument(
            "autostart", default_value="", choices=["", *BOOL_CHOICES],
            description="Configure and activate the lifecycle node at start (false: wait "
                        "for the lifecycle services); empty = the params file's value, "
                        "else true."),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="Namespace of the node (relative stream topics follow it)."),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", choices=list(BOOL_CHOICES),
            description="Follow /clock (bag replay) instead of the system clock."),
        DeclareLaunchArgument(
            "log_level", default_value="info", choices=list(LOG_LEVELS),
            description="Logger level of the node."),
    ]


def _overrides(context: LaunchContext) -> dict[str, object]:
    """Parameters that the launch arguments set on top of the params file."""
    overrides: dict[str, object] = {
        "use_sim_time": LaunchConfiguration("use_sim_time").perform(context) == "true",
    }
    for name in OPTIONAL_STRING_OVERRIDES + OPTIONAL_BOOL_OVERRIDES:
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = (value == "true") if name in OPTIONAL_BOOL_OVERRIDES else value
    return overrides


def _node(context: LaunchContext) -> list[Node]:
    return [
        Node(
            package=PACKAGE,
            executable=EXECUTABLE,
            name=NODE_NAME,
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file"), _overrides(context)],
            ros_arguments=["--log-level", LaunchConfiguration("log_level")],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments, then start the node once they are known."""
    return LaunchDescription([*_arguments(), OpaqueFunction(function=_node)])
