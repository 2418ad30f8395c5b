# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Bounds on a checkpoint archive, checked before its tensors are read.

A torch checkpoint is a zip: `check_archive` reads only its central directory
and refuses an archive whose declared uncompressed size could exhaust memory
(a 1.6 MB deflated file can declare 1.5 GB of zeros), and `check_tensor_bytes`
refuses tensor records larger than the (already bounded) config needs. Sizes
in the config itself are bounded by `ModelConfig` (network.py).
"""

from __future__ import annotations

import io
from pathlib import Path
import pickletools
from typing import BinaryIO, NamedTuple
import zipfile

from streaming_gcode.core.errors import CheckpointError
from streaming_gcode.model.network import MAX_PARAMETERS, ModelConfig

FLOAT32_BYTES = 4
ZIP_SIGNATURE = b"PK"
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER (torch < 1.6)
NON_ZIP_PROBE_BYTES = 1 << 16    # what torch may see of a file that is not a zip
PICKLE_RECORD = "data.pkl"       # torch's record of config, metadata and tensor descriptions
TENSOR_RECORDS = "/data/"        # torch's records of tensor storages: <archive>/data/<key>
MAX_PICKLE_BYTES = 16 << 20      # the shipped models' data.pkl is about 50 KB
MAX_ARCHIVE_ENTRIES = 10_000     # the shipped models have about 40
MAX_ARCHIVE_BYTES = MAX_PARAMETERS * FLOAT32_BYTES + MAX_PICKLE_BYTES
TENSOR_BYTES_RATIO = 2           # tensor records may hold up to twice what the config needs...
TENSOR_BYTES_SLACK = 1 << 20     # ...plus this much
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
               NotImplementedError)


class ArchiveSize(NamedTuple):
    """What a checkpoint's zip central directory declares."""

    entries: int
    total_bytes: int     # declared uncompressed size of every record
    tensor_bytes: int    # of the tensor storage records only


def check_archive(
    path: Path, handle: BinaryIO, max_bytes: int | None = None
) -> ArchiveSize | bytes:
    """Read the zip central directory only; refuse legacy files and oversized archives.

    A file that is neither a zip nor a legacy checkpoint gives its first
    `NON_ZIP_PROBE_BYTES` instead, for torch to refuse with its own reason.
    """
    limit = MAX_ARCHIVE_BYTES if max_bytes is None else max_bytes
    handle.seek(0)
    if handle.read(len(ZIP_SIGNATURE)) != ZIP_SIGNATURE:
        handle.seek(0)
        probe = handle.read(NON_ZIP_PROBE_BYTES)
        if _starts_like_legacy(probe):
            raise CheckpointError(
                f"{path}: refused: a legacy (torch < 1.6, not zip) checkpoint, whose sizes "
                "cannot be checked before loading; expected a torch.save zip archive"
            )
        return probe
    try:
        with zipfile.ZipFile(handle) as archive:
            records = archive.infolist()
    except _ZIP_ERRORS as exc:
        raise CheckpointError(
            f"{path}: unreadable checkpoint (truncated or corrupt file: not a torch.save zip "
            f"archive, legacy and other formats are refused: {type(exc).__name__}: {exc})"
        ) from None
    if len(records) > MAX_ARCHIVE_ENTRIES:
        raise CheckpointError(
            f"{path}: refused: the archive has {len(records)} records; expected at most "
            f"{MAX_ARCHIVE_ENTRIES}"
        )
    pickled = [r for r in records if r.filename.rsplit("/", 1)[-1] == PICKLE_RECORD]
    if len(pickled) != 1 or pickled[0].file_size > MAX_PICKLE_BYTES:
        sizes = [r.file_size for r in pickled]
        raise CheckpointError(
            f"{path}: refused: expected one {PICKLE_RECORD} record of at most "
            f"{MAX_PICKLE_BYTES} bytes, found sizes {sizes}"
        )
    total = sum(r.file_size for r in records)
    if total > limit:
        raise CheckpointError(
            f"{path}: refused: the archive declares {total} bytes uncompressed; expected at "
            f"most {limit} (the weights of {MAX_PARAMETERS} parameters)"
        )
    tensors = sum(r.file_size for r in records if TENSOR_RECORDS in f"/{r.filename}")
    return ArchiveSize(len(records), total, tensors)


def _starts_like_legacy(probe: bytes) -> bool:
    """Tell whether the first pickle is torch's legacy magic number (read, never executed)."""
    try:
        for opcode, argument, _ in pickletools.genops(io.BytesIO(probe)):
            if argument == LEGACY_MAGIC_NUMBER:
                return True
            if opcode.name == "STOP":
                return False
    except (ValueError, EOFError, KeyError, IndexError, UnicodeDecodeError):
        return False
    return False


def config_tensor_bytes(config: ModelConfig) -> int:
    """Bytes of the weights and normalisation buffers a config builds (float32)."""
    return (config.parameter_count + 2 * config.n_continuous) * FLOAT32_BYTES


def check_tensor_bytes(path: Path, size: ArchiveSize, config: ModelConfig) -> None:
    """Refuse tensor records much larger than the config's weights, before they are read."""
    needed = config_tensor_bytes(config)
    limit = needed * TENSOR_BYTES_RATIO + TENSOR_BYTES_SLACK
    if size.tensor_bytes > limit:
        raise CheckpointError(
            f"{path}: refused: the archive holds {size.tensor_bytes} bytes of tensors but its "
            f"config needs {needed}; expected at most {limit}"
        )
