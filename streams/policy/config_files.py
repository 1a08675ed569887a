"""Hand-written configuration files (YAML or JSON) validated against a JSON Schema.

Errors name the line and the field: an operator fixing a policy file must find the mistake fast.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from streams.errors import InputRefusedError

# streams/schemas links to the top-level schemas/, so an installed package carries them too
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


class ConfigFileError(InputRefusedError, ValueError):
    """A configuration file that is refused whole. `problems` lists every error found."""

    hint = "fix the file (`platewatch policy check FILE` lists every problem with its line)"

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: refused: " + "; ".join(problems))
        self.source = source
        self.problems = problems


@cache
def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text())
    return schema


def _with_lines(node: yaml.Node, path: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            if not isinstance(key, str):
                raise ConfigFileError("", [f"line {key_node.start_mark.line + 1}: keys must be strings"])
            if key in out:
                raise ConfigFileError("", [f"line {key_node.start_mark.line + 1}: duplicate key {key!r}"])
            out[key] = _with_lines(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_with_lines(child, (*path, i), lines) for i, child in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def parse_document(text: str, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse YAML (JSON is YAML too) into plain data, with the line of every path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigFileError(source, [f"{where}not valid YAML or JSON ({getattr(exc, 'problem', exc)})"]) from None
    if node is None:
        raise ConfigFileError(source, ["the file is empty"])
    lines: dict[tuple[str | int, ...], int] = {}
    try:
        return _with_lines(node, (), lines), lines
    except ConfigFileError as exc:
        raise ConfigFileError(source, exc.problems) from None


def validate(doc: Any, lines: dict[tuple[str | int, ...], int], schema_name: str, source: str) -> None:
    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    problems = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = tuple(error.absolute_path)
        line = lines.get(path)
        while line is None and path:
            path = path[:-1]
            line = lines.get(path)
        field = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"line {line or 1}: {field}: {error.message}")
    if problems:
        raise ConfigFileError(source, problems)


def load_validated(path: Path, schema_name: str) -> tuple[Any, dict[tuple[str | int, ...], int], str]:
    """Data, line map and raw text of a file that passed its schema; ConfigFileError otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(str(path), [f"cannot read: {exc}"]) from None
    doc, lines = parse_document(text, str(path))
    validate(doc, lines, schema_name, str(path))
    return doc, lines, text
