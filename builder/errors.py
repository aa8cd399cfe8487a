"""Exceptions that carry a message a user can act on.

Only the CLI turns these into exit codes and stderr lines; library code raises them.
Every error the user can cause derives from `BuilderError` (exit status 1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config, at a YAML position (1-based line and column).

    Prints as `FILE:LINE:COL: WHERE: MESSAGE`, e.g.
    `model.yaml:4:31: layers[1] (Conv2D) kernel_size: must be a positive integer, got 0`.
    `where` may be empty (a problem with the whole file); `line`/`col` may be None when
    no position is known (the prefix is then just `FILE:`).
    """

    file: str
    line: int | None
    col: int | None
    where: str
    message: str

    def __str__(self) -> str:
        position = self.file
        if self.line is not None:
            position += f":{self.line}"
            if self.col is not None:
                position += f":{self.col}"
        if self.where:
            return f"{position}: {self.where}: {self.message}"
        return f"{position}: {self.message}"


class BuilderError(Exception):
    """Base class of every error caused by bad user input (config, weights or data)."""


class ConfigError(BuilderError):
    """A config file is invalid; holds every problem found, one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class WeightsError(BuilderError):
    """A weights file is missing, unreadable or does not fit the model."""


class DataError(BuilderError):
    """An input array has the wrong shape or dtype, or an output cannot be written."""


class ResourceError(BuilderError):
    """The work would exceed a memory limit; raised before anything large is allocated."""


class ShapeError(ValueError):
    """An input shape cannot work for a layer or kernel; `field` names the argument to blame
    (`kernel_size`, `activation.shared_axes`), so the error can point at its YAML line."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedError(BuilderError):
    """What the chosen engine or export format cannot do (float64 Conv in onnxruntime)."""


class MissingExtraError(BuilderError):
    """An optional capability whose extra is not installed; the message says what to install."""


def missing_extra(what: str, extra: str) -> MissingExtraError:
    """`<what> needs the '<extra>' extra: pip install "yaml-model-builder[<extra>]"`."""
    return MissingExtraError(
        f'{what} needs the {extra!r} extra: pip install "yaml-model-builder[{extra}]"'
    )
