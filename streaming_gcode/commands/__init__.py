"""Subcommands of the streaming-gcode CLI."""
