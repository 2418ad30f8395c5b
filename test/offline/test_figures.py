# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Figures: Agg backend, the folder created, the PNG written and the figure closed."""

from __future__ import annotations

import pytest

from streaming_gcode.offline.figures import BACKEND, pyplot, save_figure

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_figure_is_written_into_a_new_folder_and_closed(tmp_path) -> None:
    plt = pyplot()
    assert plt.get_backend().lower() == BACKEND.lower()
    figure, axis = plt.subplots(figsize=(2, 2))
    axis.plot([0, 1], [1, 0])
    target = tmp_path / "deep" / "folder" / "line.png"
    written = save_figure(figure, str(target), dpi=50)
    assert written == target
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert not plt.fignum_exists(figure.number)


def test_the_figure_is_closed_even_when_it_cannot_be_written(tmp_path) -> None:
    plt = pyplot()
    figure, _ = plt.subplots(figsize=(2, 2))
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(OSError):
        save_figure(figure, blocked / "x.png", dpi=50)
    assert not plt.fignum_exists(figure.number)
