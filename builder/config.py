"""From a YAML file (or text) to a validated `ModelSpec`, or a `ConfigError` listing every problem.

Steps: safe YAML load with positions → shorthand normalised to canonical → Pydantic
validation (strict, unknown keys refused) → checks across layers (unique names).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from builder.errors import ConfigError, Problem
from builder.loader import load_document, read_text
from builder.spec.messages import problems_from_validation
from builder.spec.model import INPUT_NAME, ModelSpec, input_declaration_problem
from builder.spec.normalize import SourceMap, normalize


def parse(source: str | os.PathLike[str]) -> ModelSpec:
    """Validate a config given as a path or as YAML text.

    A `pathlib.Path`, or a one-line string naming an existing file or ending in
    `.yaml`/`.yml`, is read as a file; any other string is YAML text.
    """
    if _is_path(source):
        return parse_file(source)
    return parse_text(str(source))


def parse_file(path: str | os.PathLike[str]) -> ModelSpec:
    """Validate the config file at `path` (never read as YAML text: `no such file`)."""
    return parse_text(read_text(path), filename=os.fsdecode(path), default_name=Path(path).stem)


def parse_text(text: str, filename: str = "<string>", default_name: str = "model") -> ModelSpec:
    document = load_document(text, filename)
    data, source = normalize(document)
    problems = source.problems + _name_problems(data, source) + _input_problems(data, source)
    try:
        spec = ModelSpec.model_validate(data, context={"inputs_checked": True})
    except ValidationError as error:
        problems += problems_from_validation(error, data, source, ModelSpec.model_fields)
    if problems:
        raise ConfigError(sorted(problems, key=_position))
    if spec.name is None:
        spec.name = default_name
    spec._source = source
    return spec


def _name_problems(data: Any, source: SourceMap) -> list[Problem]:
    """Duplicate and reserved layer names, checked on the raw entries so that they are
    reported together with every other problem."""
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        return []
    problems = []
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(layers):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            continue
        kind = entry.get("type")
        where = (
            f"layers[{index}] ({kind}) name" if isinstance(kind, str) else f"layers[{index}] name"
        )
        if name == INPUT_NAME:
            message = "'input' is reserved for the model input"
            problems.append(source.problem_at(("layers", index, "name"), where, message))
        elif name in first_seen:
            earlier = source.locate(("layers", first_seen[name]))
            line = f" (line {earlier.line})" if earlier else ""
            message = (
                f"duplicate layer name {name!r}, already used by layers[{first_seen[name]}]{line}"
            )
            problems.append(source.problem_at(("layers", index, "name"), where, message))
        else:
            first_seen[name] = index
    return problems


def _input_problems(data: Any, source: SourceMap) -> list[Problem]:
    """Not exactly one of `input_shape` and `inputs`; a layer named like a declared input."""
    if not isinstance(data, dict):
        return []
    found = input_declaration_problem("input_shape" in data, "inputs" in data)
    problems = []
    if found is not None:
        field, message = found
        path = (field,) if field in data else ()
        problems.append(source.problem_at(path, field, message))
    inputs, layers = data.get("inputs"), data.get("layers")
    if not isinstance(inputs, dict) or not isinstance(layers, list):
        return problems
    for index, entry in enumerate(layers):
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name in inputs:
            kind = entry.get("type")
            where = (
                f"layers[{index}] ({kind}) name"
                if isinstance(kind, str)
                else f"layers[{index}] name"
            )
            earlier = source.locate(("inputs", name), at_key=True)
            line = f" (line {earlier.line})" if earlier else ""
            message = f"{name!r} is already the name of a model input{line}"
            problems.append(source.problem_at(("layers", index, "name"), where, message))
    return problems


def _position(problem: Problem) -> tuple[int, int]:
    return (problem.line or 0, problem.col or 0)


def _is_path(source: str | os.PathLike[str]) -> bool:
    if isinstance(source, os.PathLike):
        return True
    if "\n" in source or not source.strip():
        return False
    return source.endswith((".yaml", ".yml")) or os.path.exists(source)
