# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Heads' logits for one frame -> G-code text with a confidence per head.

Decoding is a deterministic argmax per head (ties go to the lower index) over
the classes that can be written: the reserved "unknown" classes of the command
and parameter heads are never chosen, since they have no text. Confidence is the
softmax probability of the chosen class over all classes of its head.

With a program library, `choose_line` prefers the running program's recorded
line (the controller reports its number) and keeps the model's line where the
library does not know the reported line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from streaming_gcode.model.gcode import LineLabel, NO_COMMAND, render_line
from streaming_gcode.model.program_library import ProgramLine, ProgramReading
from streaming_gcode.model.vocabulary import (
    ABSENT_INDEX,
    COMMAND_HEAD,
    command_written,
    FIRST_VALUE_INDEX,
    FORM_HEAD,
    LineKey,
    OutputVocabulary,
    param_head,
    UNKNOWN_INDEX,
    UNKNOWN_VALUE_INDEX,
)

SOURCE_LIBRARY = "program_library"   # the line came from the running program's table
SOURCE_MODEL = "model"               # the line came from the learned heads


@dataclass(frozen=True)
class HeadPrediction:
    """One head's decision for a frame."""

    label: str
    index: int
    confidence: float


@dataclass(frozen=True)
class DecodedLine:
    """The predicted executing line of one frame."""

    text: str                          # `G1 X3.291 Z0.` ("" when nothing is predicted)
    tokens: tuple[str, ...]            # its words: ("G1", "X3.291", "Z0.")
    heads: dict[str, HeadPrediction]   # every head's label, index and confidence
    key: LineKey                       # (command, command written, ((letter, q), ...))

    @property
    def command(self) -> str:
        """Return the predicted command, modal lines resolved."""
        return self.heads[COMMAND_HEAD].label

    @property
    def confidence(self) -> float:
        """Confidence of the whole line: the lowest head confidence that shapes the text."""
        return min(p.confidence for p in self.heads.values())


def _as_numpy(logits: Any) -> np.ndarray:
    if hasattr(logits, "detach"):
        logits = logits.detach().cpu().numpy()
    return np.asarray(logits, dtype=np.float64)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _excluded(head: str) -> int | None:
    """Reserved class a head never outputs (it has no text)."""
    if head == COMMAND_HEAD:
        return UNKNOWN_INDEX
    if head == FORM_HEAD:
        return None
    return UNKNOWN_VALUE_INDEX


def _choose(logits: np.ndarray, excluded: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Argmax per row over the allowed classes, and its softmax probability."""
    probs = softmax(logits)
    masked = logits.copy()
    if excluded is not None and logits.shape[-1] > 1:
        masked[:, excluded] = -np.inf
    index = np.argmax(masked, axis=-1)
    return index, probs[np.arange(len(index)), index]


def decode_frame(logits: Mapping[str, Any], vocab: OutputVocabulary) -> DecodedLine:
    """Decode one frame: `logits[head]` is a [V] vector (numpy or torch)."""
    frame = {head: _as_numpy(value).reshape(1, -1) for head, value in logits.items()}
    return decode_frames(frame, vocab)[0]


def decode_frames(logits: Mapping[str, Any], vocab: OutputVocabulary) -> list[DecodedLine]:
    """Decode every frame of `logits[head]` shaped [T, V]."""
    labels = vocab.head_labels
    missing = [head for head in labels if head not in logits]
    if missing:
        raise KeyError(f"decode: logits lack heads {missing}")
    chosen: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    count: int | None = None
    for head, names in labels.items():
        array = _as_numpy(logits[head])
        if array.ndim != 2 or array.shape[1] != len(names):
            raise ValueError(
                f"decode: head {head!r} has logits of shape {tuple(array.shape)}, "
                f"expected [frames, {len(names)}]"
            )
        if count is not None and array.shape[0] != count:
            raise ValueError(f"decode: head {head!r} has {array.shape[0]} frames, others {count}")
        count = array.shape[0]
        chosen[head] = _choose(array, _excluded(head))
    lines = []
    for t in range(count or 0):
        heads = {
            head: HeadPrediction(labels[head][int(idx[t])], int(idx[t]), float(conf[t]))
            for head, (idx, conf) in chosen.items()
        }
        lines.append(_assemble(heads, vocab))
    return lines


def _assemble(heads: dict[str, HeadPrediction], vocab: OutputVocabulary) -> DecodedLine:
    command = heads[COMMAND_HEAD].label
    modal = heads[FORM_HEAD].index == 1
    words: list[tuple[str, str]] = []
    quantised: list[tuple[str, int]] = []
    for letter in vocab.letters:
        prediction = heads[param_head(letter)]
        if prediction.index == ABSENT_INDEX:
            continue
        words.append((letter, prediction.label))
        quantised.append((letter, vocab.values[letter][prediction.index - FIRST_VALUE_INDEX]))
    text = render_line(command, modal, words)
    key: LineKey = (command, command_written(command, modal), tuple(quantised))
    return DecodedLine(text, tuple(text.split()), heads, key)


def library_line(line: ProgramLine, vocab: OutputVocabulary) -> DecodedLine:
    """Decode a program library's line: its exact text, every head at the library's share.

    The key is the label's own (values the heads cannot represent stay exact), so a
    library answer scores exactly like the recorded line it came from.
    """
    labels = vocab.head_labels
    heads = {head: HeadPrediction(labels[head][index], index, line.share)
             for head, index in vocab.encode(line.label).items()}
    text = vocab.text(line.label)
    return DecodedLine(text, tuple(text.split()), heads, vocab.key(line.label))


def choose_line(logits: Mapping[str, Any], reading: ProgramReading | None,
                vocab: OutputVocabulary) -> tuple[DecodedLine, str]:
    """Return the running program's line, or the model's; and which it was.

    The library's line where it knows it; where tied programs disagree, the one
    of their lines the heads score highest (sum of log-probabilities); elsewhere
    the model's own line.
    """
    if reading is not None and reading.line is not None:
        return library_line(reading.line, vocab), SOURCE_LIBRARY
    if reading is not None and reading.candidates:
        log_p = {head: _log_softmax(_as_numpy(value).reshape(-1))
                 for head, value in logits.items()}
        scores = [sum(float(log_p[head][index]) for head, index in vocab.encode(c.label).items())
                  for c in reading.candidates]
        return library_line(reading.candidates[int(np.argmax(scores))], vocab), SOURCE_LIBRARY
    return decode_frame(logits, vocab), SOURCE_MODEL


def _log_softmax(values: np.ndarray) -> np.ndarray:
    shifted = values.astype(np.float64) - values.max()
    return shifted - np.log(np.exp(shifted).sum())


def label_logits(
    label: LineLabel, vocab: OutputVocabulary, margin: float = 10.0
) -> dict[str, np.ndarray]:
    """Logits that put `margin` on the label's class of every head (tests, round trips)."""
    targets = vocab.encode(label)
    logits = {}
    for head, size in vocab.head_sizes.items():
        vector = np.zeros(size)
        vector[targets[head]] = margin
        logits[head] = vector
    return logits


def round_trip(label: LineLabel, vocab: OutputVocabulary) -> DecodedLine:
    """Encode a label into head targets and decode it back."""
    return decode_frame(label_logits(label, vocab), vocab)


__all__ = [
    "SOURCE_LIBRARY",
    "SOURCE_MODEL",
    "choose_line",
    "library_line",
    "DecodedLine",
    "HeadPrediction",
    "NO_COMMAND",
    "decode_frame",
    "decode_frames",
    "label_logits",
    "round_trip",
    "softmax",
]
