# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Decoding heads to text: determinism, confidences, errors, round trips on the dataset."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
import torch

from streaming_gcode.model.decoding import (
    choose_line,
    decode_frame,
    decode_frames,
    label_logits,
    library_line,
    round_trip,
    softmax,
    SOURCE_LIBRARY,
    SOURCE_MODEL,
)
from streaming_gcode.model.gcode import label_lines, LineLabel
from streaming_gcode.model.program_library import ProgramLine, ProgramReading
from streaming_gcode.model.random_weights import default_vocabulary
from streaming_gcode.model.vocabulary import OutputVocabulary
from streaming_gcode.offline.labelled_windows import run_labels
from streaming_gcode.recordings.csv_runs import find_runs, load_run

LINES = ["G0 X0. Y0.", "G1 X3.2914 Z-0.125 F22.", "X3.2919 Y0.3746 R0.083", "M30", "G53 G0 Z0."]
MODES = [0.0, 1.0, 3.0, 4.0, 0.0]


@pytest.fixture()
def vocab() -> OutputVocabulary:
    return OutputVocabulary.build(label_lines(LINES, MODES))


def test_round_trip_of_each_line(vocab) -> None:
    expected = ["G0 X0. Y0.", "G1 X3.291 Z-0.125 F22.", "X3.292 Y0.375 R0.083", "M30",
                "G53 G0 Z0."]
    for label, text in zip(label_lines(LINES, MODES), expected):
        decoded = round_trip(label, vocab)
        assert decoded.text == text
        assert decoded.tokens == tuple(text.split())
        assert decoded.key == vocab.key(label)


def test_confidence_is_the_softmax_probability_of_the_chosen_class(vocab) -> None:
    label = label_lines(["G1 X3.2914 Z-0.125 F22."], [1.0])[0]
    logits = label_logits(label, vocab, margin=2.0)
    decoded = decode_frame(logits, vocab)
    for head, prediction in decoded.heads.items():
        assert prediction.confidence == pytest.approx(softmax(logits[head])[prediction.index])
    assert decoded.confidence == min(p.confidence for p in decoded.heads.values())
    assert decoded.command == "G1"


def test_reserved_classes_are_never_decoded(vocab) -> None:
    logits = {h: np.zeros(n) for h, n in vocab.head_sizes.items()}
    logits["command"][0] = 50.0      # "<unk>" is the argmax but has no text
    logits["param_X"][1] = 50.0      # "<unk>" value
    decoded = decode_frame(logits, vocab)
    assert decoded.heads["command"].index != 0
    assert decoded.heads["param_X"].index != 1
    assert decoded.heads["command"].confidence < 0.01


def test_ties_go_to_the_lowest_index_and_decoding_is_deterministic(vocab) -> None:
    logits = {h: np.zeros(n) for h, n in vocab.head_sizes.items()}
    first = decode_frame(logits, vocab)
    assert first.heads["command"].index == 1 and first.heads["param_X"].index == 0
    assert decode_frame(logits, vocab) == first


def test_decode_frames_accepts_torch_tensors_and_matches_per_frame(vocab) -> None:
    rng = np.random.default_rng(3)
    logits = {h: torch.from_numpy(rng.normal(size=(6, n))) for h, n in vocab.head_sizes.items()}
    lines = decode_frames(logits, vocab)
    assert len(lines) == 6
    assert lines[4] == decode_frame({h: v[4] for h, v in logits.items()}, vocab)


def test_shape_errors_name_the_head(vocab) -> None:
    logits = {h: np.zeros(n) for h, n in vocab.head_sizes.items()}
    with pytest.raises(KeyError, match="param_X"):
        decode_frame({h: v for h, v in logits.items() if h != "param_X"}, vocab)
    logits["param_Y"] = np.zeros(3)
    with pytest.raises(ValueError, match="'param_Y' has logits of shape"):
        decode_frame(logits, vocab)


def _decode_all(labels, vocab):
    """Round trip many labels in one batched decode."""
    per_label = [label_logits(label, vocab) for label in labels]
    stacked = {h: np.stack([logits[h] for logits in per_label]) for h in vocab.head_sizes}
    return decode_frames(stacked, vocab)


@pytest.mark.data
def test_every_dataset_line_round_trips_at_the_vocabulary_precision(data_dir) -> None:
    runs = [load_run(p) for p in find_runs([data_dir])[::18]]
    rows = [(t, label) for run in runs for t, label in zip(run.gcode, run_labels(run))
            if label is not None]
    by_text = dict(rows)  # distinct recorded lines and their labels
    assert len(by_text) > 300
    vocab = OutputVocabulary.build(label for _, label in rows)
    decoded = _decode_all(list(by_text.values()), vocab)
    for label, line in zip(by_text.values(), decoded):
        assert line.key == vocab.key(label)
        assert line.text == vocab.text(label)
    # At the data's own precision (0.0001) the decoded text is the recorded line itself.
    fine = OutputVocabulary.build((label for _, label in rows),
                                  precision=dict.fromkeys("XYZRF", "0.0001"))
    decoded = _decode_all(list(by_text.values()), fine)
    assert [line.text for line in decoded] == list(by_text)


def test_library_line_keeps_the_exact_label_and_choose_line_prefers_it() -> None:
    vocab = default_vocabulary()
    label = LineLabel("G1", False, (("X", Decimal("1.2345")), ("Y", Decimal("-0.5"))))
    line = library_line(ProgramLine(label, 0.75), vocab)
    assert line.key == vocab.key(label) and line.text == vocab.text(label)
    assert line.command == "G1" and line.confidence == 0.75
    g0 = LineLabel("G0", False, (("Z", Decimal("0.5")),))
    logits = label_logits(g0, vocab)
    known = ProgramReading("face", 0.9, ProgramLine(label, 1.0), 12)
    assert choose_line(logits, known, vocab) == (line.__class__(**{
        **line.__dict__, "heads": library_line(ProgramLine(label, 1.0), vocab).heads}),
        SOURCE_LIBRARY)
    unknown = ProgramReading("face", 0.9, None, 999)
    assert choose_line(logits, unknown, vocab) == (decode_frame(logits, vocab), SOURCE_MODEL)
    assert choose_line(logits, None, vocab)[1] == SOURCE_MODEL
    # tied programs disagree: the heads choose among their lines, never outside them
    tied = ProgramReading("face", 0.5, None, 7, (ProgramLine(label, 1.0), ProgramLine(g0, 1.0)))
    chosen, source = choose_line(logits, tied, vocab)
    assert source == SOURCE_LIBRARY and chosen.key == vocab.key(g0)
    other = label_logits(LineLabel("G3", False, ()), vocab)
    assert choose_line(other, tied, vocab)[0].key in {vocab.key(label), vocab.key(g0)}
