"""Reading a pack's YAML while remembering where every value came from."""
from __future__ import annotations

import re
from typing import Any

import yaml

from engine.errors import PackProblem

Path = tuple[Any, ...]
_SURROGATE = re.compile("[\ud800-\udfff]")


class PackLoader(yaml.SafeLoader):
    """YAML as rule authors expect it: only true and false are booleans.

    YAML 1.1 also reads on, off, yes and no as booleans, which would turn the
    journey key ``on:`` into ``True:``; here they stay texts (as in YAML 1.2).
    """


PackLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PackLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


class LocatedYAML:
    """Parsed YAML plus the line of every key path, for error messages."""

    def __init__(self, filename: str, data: Any, lines: dict[Path, int],
                 columns: dict[Path, int] | None = None):
        self.filename = filename
        self.data = data
        self.lines = lines
        self.columns = columns or {}

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest located parent."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def column_of(self, path: Path) -> int | None:
        """The column (from 1) of ``path``, or of its nearest located parent."""
        while path and path not in self.columns:
            path = path[:-1]
        return self.columns.get(path)


def format_path(path: Path) -> str:
    """``actions[3].when`` for ("actions", 3, "when")."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def read_yaml(text: str, filename: str) -> tuple[LocatedYAML | None, list[PackProblem]]:
    """Parse ``text``; on failure, the problems (syntax, duplicate keys)."""
    try:
        loader = PackLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [PackProblem(filename, line, "", f"YAML syntax error: {problem}", column)]
    if node is None:
        return None, [PackProblem(filename, 1, "", "the file is empty")]
    lines: dict[Path, int] = {}
    columns: dict[Path, int] = {}
    problems: list[PackProblem] = []
    _locate(node, (), (lines, columns), problems, filename)
    if problems:
        return None, problems
    constructor = PackLoader("")
    try:
        data = constructor.construct_document(node)
    except yaml.YAMLError as exc:
        return None, [PackProblem(filename, None, "", f"YAML error: {exc}")]
    return LocatedYAML(filename, data, lines, columns), []


def _locate(node: yaml.Node, path: Path, where: tuple[dict[Path, int], dict[Path, int]],
            problems: list[PackProblem], filename: str) -> None:
    lines, columns = where
    lines[path], columns[path] = node.start_mark.line + 1, node.start_mark.column + 1
    if isinstance(node, yaml.ScalarNode) and _SURROGATE.search(node.value):
        problems.append(PackProblem(filename, lines[path], format_path(path),
                                    "this text holds an escaped lone surrogate (\\uD800 to "
                                    "\\uDFFF), which is not a character", columns[path]))
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            mark = key_node.start_mark
            if key in seen:
                problems.append(PackProblem(filename, mark.line + 1,
                                            format_path(path + (key,)), "duplicate key",
                                            mark.column + 1))
            seen.add(key)
            _locate(value_node, path + (key,), where, problems, filename)
            lines[path + (key,)], columns[path + (key,)] = mark.line + 1, mark.column + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _locate(item, path + (index,), where, problems, filename)
