# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Outputs: what the node publishes, as plain data: prediction record, diagnostics, agreement.

The `~/prediction` JSON record (a contract), the diagnostic statuses graded from
ingestion and inference reports, and the agreement monitor that pairs
predictions with the controller's reported line. No rclpy.
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "prediction": ("prediction_record",),
    "diagnostics": ("Level", "Status", "Thresholds", "status_name"),
    "agreement": ("AgreementMonitor", "AgreementSettings"),
})
