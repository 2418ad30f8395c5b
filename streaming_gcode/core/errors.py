# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Domain exceptions: each says what was wrong, where, and what was expected."""


class StreamingGcodeError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(StreamingGcodeError):
    """A parameter, params file or stream layout is invalid."""


class FeatureMappingError(ConfigError):
    """The model needs features that no configured stream provides (or the reverse)."""


class ModelConfigError(ConfigError, ValueError):
    """A model architecture (`ModelConfig`) is invalid.

    Also a ValueError, which it was before it became a domain error, so callers
    that catch ValueError (reading a checkpoint's config) still do.
    """


class RecordingError(StreamingGcodeError):
    """A recorded run (CSV) or bag cannot be read or lacks what is needed."""


class CheckpointError(StreamingGcodeError):
    """A checkpoint file is missing, corrupt, of the wrong version or shape, or unsafe."""


class MessageTypeError(ConfigError, RecordingError):
    """A message type named by a layout or a bag has no importable Python class."""


class MessageError(StreamingGcodeError):
    """A sensor message is malformed (wrong length, NaN/Inf, unknown channel names...)."""


class VocabularyError(StreamingGcodeError):
    """A G-code line or vocabulary file cannot be tokenised or decoded."""
