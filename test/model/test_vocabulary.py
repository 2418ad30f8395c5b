# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Output vocabulary (build, encode, files) and the reference token vocabulary."""

from __future__ import annotations

from decimal import Decimal
import gzip
import json
from pathlib import Path

import pytest

from streaming_gcode.core.errors import VocabularyError
from streaming_gcode.model.gcode import label_lines
from streaming_gcode.model.vocabulary import (
    ABSENT_INDEX,
    OutputVocabulary,
    ReferenceVocabulary,
    UNKNOWN_INDEX,
    UNKNOWN_VALUE_INDEX,
)
from streaming_gcode.offline.labelled_windows import run_labels
from streaming_gcode.recordings.csv_runs import find_runs, load_run

LINES = ["G0 X0. Y0.", "G1 X3.2914 Z-0.125 F22.", "X3.2919 Y0.3746 R0.083", "M30", "G53 G0 Z0."]
MODES = [0.0, 1.0, 3.0, 4.0, 0.0]


@pytest.fixture()
def vocab() -> OutputVocabulary:
    return OutputVocabulary.build(label_lines(LINES, MODES))


def test_build_collects_commands_letters_and_quantised_values(vocab) -> None:
    assert vocab.commands == ("G0", "G1", "G3", "G53 G0", "M30")
    assert vocab.letters == ("X", "Y", "Z", "R", "F")  # canonical order, not first-seen order
    assert vocab.values["X"] == (0, 3291, 3292)  # precision 0.001, half away from zero
    assert vocab.values["R"] == (830,)            # precision 0.0001
    assert vocab.head_labels["param_X"] == ("<absent>", "<unk>", "0.", "3.291", "3.292")
    assert vocab.head_sizes["command"] == 6 and vocab.head_sizes["form"] == 2


def test_encode_gives_every_head_a_target(vocab) -> None:
    label = label_lines(["X3.2919 Y0.3746 R0.083"], [3.0])[0]
    targets = vocab.encode(label)
    assert targets["command"] == vocab.head_labels["command"].index("G3")
    assert targets["form"] == 1
    assert vocab.head_labels["param_X"][targets["param_X"]] == "3.292"
    assert targets["param_Z"] == ABSENT_INDEX


def test_unknown_command_and_value_map_to_reserved_classes(vocab) -> None:
    label = label_lines(["G2 X9.5 Y0."], [2.0])[0]
    targets = vocab.encode(label)
    assert targets["command"] == UNKNOWN_INDEX
    assert targets["param_X"] == UNKNOWN_VALUE_INDEX
    assert not vocab.is_representable(label)
    assert vocab.is_representable(label_lines(["G0 X0. Y0."], [0.0])[0])


def test_text_and_key_are_at_the_vocabulary_precision(vocab) -> None:
    label = label_lines(["G1 X3.2914 Z-0.125 F22."], [1.0])[0]
    assert vocab.text(label) == "G1 X3.291 Z-0.125 F22."
    assert vocab.key(label) == ("G1", True, (("X", 3291), ("Z", -125), ("F", 22)))


def test_save_and_load_round_trip(vocab, tmp_path) -> None:
    loaded = OutputVocabulary.load(vocab.save(tmp_path / "vocab.json"))
    assert loaded == vocab
    assert loaded.head_labels == vocab.head_labels


def test_load_errors_name_the_file(vocab, tmp_path) -> None:
    with pytest.raises(VocabularyError, match="no such vocabulary file"):
        OutputVocabulary.load(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(VocabularyError, match="broken.json: unreadable"):
        OutputVocabulary.load(broken)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else", "version": 1}))
    with pytest.raises(VocabularyError, match="other.json: not an output vocabulary"):
        OutputVocabulary.load(other)
    data = vocab.to_dict()
    del data["values"]
    with pytest.raises(VocabularyError, match="malformed output vocabulary"):
        OutputVocabulary.from_dict(data, "x")


def test_build_honours_a_precision_override() -> None:
    fine = OutputVocabulary.build(label_lines(LINES, MODES), precision={"X": "0.0001"})
    assert fine.values["X"] == (0, 32914, 32919)
    assert fine.head_labels["param_X"][-1] == "3.2919"


def test_reference_bucketing_rule() -> None:
    ref = ReferenceVocabulary({"X": 5}, {"X": Decimal("0.001"), "Z": Decimal("0.001"),
                                         "R": Decimal("0.0001")}, 2, {"UNK": 3}, {})
    assert ref.tokenize("G1 X3.2914 Z0.002") == ["G1", "X", "NUM_X_32", "Z", "NUM_Z_02"]
    assert ref.tokenize("Z-0.125 R0.083") == ["Z", "NUM_Z_-1", "R", "NUM_R_83"]
    assert ref.tokenize("G53 G0 Z0.") == ["G53", "G0", "Z0."]  # bare-point numbers stay whole
    assert ref.encode("X1.4") == [5, 3]


def test_reference_load_error(tmp_path) -> None:
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps({"vocab": {"PAD": 0}}))
    with pytest.raises(VocabularyError, match="vocab.json: not a reference token vocabulary"):
        ReferenceVocabulary.load(path)


def _dataset_lines(data_dir: Path) -> set[str]:
    """Distinct G-code lines of every run: the last CSV field, read without the CSV parser."""
    lines: set[str] = set()
    for path in find_runs([data_dir]):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", newline="") as handle:
            assert next(handle).rstrip().endswith(",gcode_string")
            lines.update(row.rstrip("\r\n").rsplit(",", 1)[-1].strip() for row in handle)
    lines.discard("")
    return lines


@pytest.mark.data
def test_reference_vocabulary_is_reproduced_on_the_dataset(data_dir) -> None:
    ref = ReferenceVocabulary.load(data_dir / "gcode_vocab_v2.json")
    assert len(ref.token_to_id) == 170
    assert ref.special == {"PAD": 0, "BOS": 1, "EOS": 2, "UNK": 3, "MASK": 4}
    produced: set[str] = set()
    for text in _dataset_lines(data_dir):
        produced.update(ref.tokenize(text))
    # Every non-special token of the file comes out of this tokeniser on the dataset.
    assert set(ref.token_to_id) - produced == set(ref.special)
    line = "G1 X3.291 Z0.0003"
    assert ref.encode(line, add_special=True) == [1, 44, 5, 138, 7, 59, 2]


@pytest.mark.data
def test_vocabulary_built_from_a_run_encodes_all_its_lines(data_dir) -> None:
    labels = run_labels(load_run(find_runs([data_dir])[0]))
    vocab = OutputVocabulary.build(labels)
    assert all(vocab.is_representable(label) for label in labels if label is not None)
