# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""TODO."""
