"""Python source for validated pack expressions, and the limits that come first.

``check_limits`` runs on every expression tree when a pack loads, before any
closure or code exists: trees nested too deeply, and literals too large to
print or compile safely, are pack problems. ``SourceWriter`` then writes the
Python source of an expression the validator accepted, for the generated
decision functions (``engine.decision.codegen``). It never copies author
text: it walks the parsed tree, accepts only the node types the validator
knows, resolves every name itself (``contact``, ``context`` and ``facts`` to
the generated function's locals, functions to the vocabulary's, arbitration
names to what the caller gives), writes literals with ``repr()`` and binds
everything else (filters, sets of texts, non-finite numbers) as named
constants through ``bind``. Its output must evaluate exactly as the closures
of ``engine.language.expressions`` do: the same helper functions decide every
comparison and every operation.
"""
from __future__ import annotations

import ast
import math
from typing import Callable, Mapping

from engine.decision.events import EventFilter
from engine.decision.history import HistoryFilter
from engine.errors import ExpressionSyntaxError
from engine.language.durations import parse_duration
from engine.language.vocabulary import ARBITRATION_ROOTS, FUNCTIONS

MAX_SOURCE_CHARS = 10_000
MAX_DEPTH = 40
MAX_TEXT_CHARS = 1_000
MAX_INTEGER = 10**18

_LITERAL_NAMES = {"true": True, "false": False, "null": None,
                  "True": True, "False": False, "None": None}
ROOT_LOCALS = ("contact", "context", "facts")
_ORDERED = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
_COMPARISONS = {ast.Eq: "eq", ast.NotEq: "ne", ast.In: "in", ast.NotIn: "not_in", **_ORDERED}
_OPERATORS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Mod: "mod"}
_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%"}


class CodegenRefused(Exception):
    """An expression the source writer does not handle (the closures serve it)."""


def check_limits(tree: ast.AST) -> None:
    """ExpressionSyntaxError if ``tree`` nests deeper than MAX_DEPTH or holds a
    literal that is too large (texts over MAX_TEXT_CHARS characters, integers
    of MAX_INTEGER or more, infinite numbers)."""
    pending: list[tuple[ast.AST, int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ExpressionSyntaxError(f"expression nested more than {MAX_DEPTH} levels deep",
                                        getattr(node, "col_offset", -1) + 1)
        if isinstance(node, ast.Constant):
            _check_literal(node)
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_literal(node: ast.Constant) -> None:
    value = node.value
    column = node.col_offset + 1
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        raise ExpressionSyntaxError(f"text literal longer than {MAX_TEXT_CHARS} characters",
                                    column)
    if type(value) is int and abs(value) >= MAX_INTEGER:
        raise ExpressionSyntaxError("integer literal too large (at most 18 digits)", column)
    if type(value) is float and not math.isfinite(value):
        raise ExpressionSyntaxError("number literal too large", column)


class SourceWriter:
    """Writes one expression tree as Python source over the generated function's
    locals. ``bind(value)`` returns the name of a namespace constant holding
    ``value``; ``names`` maps the bare names an expression may use (arbitration:
    propensity, value, priority, cost) to source text."""

    def __init__(self, bind: Callable[[object], str], names: Mapping[str, str] | None = None,
                 floats: frozenset[str] = frozenset()):
        self.bind = bind
        self.names = dict(names or {})
        self.floats = floats  # names known to hold a float (never null, never a text)
        self._temps = 0

    def expression(self, source: str, truth: bool = False) -> str:
        """The Python source of ``source`` (already accepted by the validator);
        with ``truth``, only its truth value matters (an ``if`` test)."""
        tree = ast.parse(source.strip(), mode="eval")
        check_limits(tree)
        return self.node(tree.body, truth)

    def always_float(self, source: str) -> bool:
        """Whether ``source`` evaluates to a float whatever the contact (see is_float)."""
        return self.is_float(ast.parse(source.strip(), mode="eval").body)

    def literal(self, value: object) -> str:
        """A literal: repr() for finite numbers, texts, booleans and null."""
        if value is None or type(value) in (bool, int, str):
            return f"({value!r})"
        if type(value) is float and math.isfinite(value):
            return f"({value!r})"
        return self.bind(value)

    def temp(self) -> str:
        self._temps += 1
        return f"t{self._temps}"

    def node(self, node: ast.AST, truth: bool = False) -> str:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise CodegenRefused(type(node).__name__)
        return method(node, truth)

    def _Constant(self, node: ast.Constant, truth: bool) -> str:
        if node.value is not None and type(node.value) not in (int, float, str, bool):
            raise CodegenRefused("literal")
        return self.literal(node.value)

    def _Name(self, node: ast.Name, truth: bool) -> str:
        if node.id in _LITERAL_NAMES:
            return repr(_LITERAL_NAMES[node.id])
        if node.id in self.names:
            return self.names[node.id]
        raise CodegenRefused(f"name {node.id!r}")

    def _Attribute(self, node: ast.Attribute, truth: bool) -> str:
        path: list[str] = []
        base: ast.AST = node
        while isinstance(base, ast.Attribute):
            path.append(base.attr)
            base = base.value
        path.reverse()
        if any(not part.isidentifier() or part.startswith("_") for part in path):
            raise CodegenRefused("attribute")
        if isinstance(base, ast.Call):
            return f"_walk({self.node(base)}, {self.bind(tuple(path))})"
        if isinstance(base, ast.Name) and base.id in ARBITRATION_ROOTS:
            # risk.* and costs.*: names the decision sets (``scope`` is the function's)
            return f"_walk(scope.names.get({base.id!r}), {self.bind(tuple(path))})"
        if not isinstance(base, ast.Name) or base.id not in ROOT_LOCALS:
            raise CodegenRefused("attribute root")
        first = f"{base.id}.get({path[0]!r})"
        return first if len(path) == 1 else f"_walk({first}, {self.bind(tuple(path[1:]))})"

    def _List(self, node: ast.List | ast.Tuple, truth: bool) -> str:
        return "[" + ", ".join(self.node(e) for e in node.elts) + "]"

    _Tuple = _List

    def _BoolOp(self, node: ast.BoolOp, truth: bool) -> str:
        word = " and " if isinstance(node.op, ast.And) else " or "
        joined = "(" + word.join(self.node(v, truth=True) for v in node.values) + ")"
        return joined if truth else f"(True if {joined} else False)"

    def _UnaryOp(self, node: ast.UnaryOp, truth: bool) -> str:
        if isinstance(node.op, ast.Not):
            return f"(not {self.node(node.operand, truth=True)})"
        if isinstance(node.op, ast.USub):
            if self.is_float(node.operand):
                return f"(-{self.node(node.operand)})"
            return f"_neg({self.node(node.operand)})"
        if isinstance(node.op, ast.UAdd):
            return self.node(node.operand, truth)
        raise CodegenRefused("unary operator")

    def _BinOp(self, node: ast.BinOp, truth: bool) -> str:
        name = _OPERATORS.get(type(node.op))
        if name is None:
            raise CodegenRefused("operator")
        if self.is_float(node):  # plain float arithmetic: it cannot fail or meet a null
            return f"({self.node(node.left)} {_SYMBOLS[name]} {self.node(node.right)})"
        return f"_{name}({self.node(node.left)}, {self.node(node.right)})"

    def is_float(self, node: ast.AST) -> bool:
        """Whether ``node`` is sure to be a float whatever the contact: float names and
        literals, their negations, and + - * of them (with small integer literals), or
        / and % by a non-zero literal. Such arithmetic needs no type dispatch: on
        floats, the helpers' result is the operator's."""
        if isinstance(node, ast.Constant):
            return type(node.value) is float and math.isfinite(node.value)
        if isinstance(node, ast.Name):
            return node.id in self.floats
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return self.is_float(node.operand)
        if not isinstance(node, ast.BinOp) or type(node.op) not in _OPERATORS:
            return False
        left, right = self.is_float(node.left), self.is_float(node.right)
        if isinstance(node.op, (ast.Div, ast.Mod)):
            return left and _nonzero_literal(node.right)
        return (left or _small_integer(node.left)) and (right or _small_integer(node.right)) \
            and (left or right)

    def _Compare(self, node: ast.Compare, truth: bool) -> str:
        names = [_COMPARISONS.get(type(op)) for op in node.ops]
        if None in names:
            raise CodegenRefused("comparison")
        if len(names) == 1:
            return self.single_comparison(names[0], node.left, node.comparators[0])
        parts, left = [], self.node(node.left)
        for index, (name, right_node) in enumerate(zip(names, node.comparators, strict=True)):
            right = self.node(right_node)
            if index < len(names) - 1:
                temp = self.temp()
                right, next_left = f"({temp} := {right})", temp
            else:
                next_left = ""
            parts.append(f"_{name}({left}, {right})")
            left = next_left
        return "(" + " and ".join(parts) + ")"

    def single_comparison(self, name: str, left_node: ast.AST, right_node: ast.AST) -> str:
        """The closures' fast paths, kept: a text list on the right is a set lookup,
        a number literal on the right skips the generic dispatch."""
        left = self.node(left_node)
        if name in ("in", "not_in") and _text_list(right_node):
            texts = frozenset(e.value for e in right_node.elts)  # type: ignore[attr-defined]
            return f"_text_{name}({left}, {self.bind(texts)})"
        if name in ("lt", "le", "gt", "ge") and isinstance(right_node, ast.Constant) \
                and type(right_node.value) in (int, float):
            return f"_num_{name}({left}, {self.literal(right_node.value)})"
        return f"_{name}({left}, {self.node(right_node)})"

    def _Call(self, node: ast.Call, truth: bool) -> str:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                and func.value.id in ("history", "events"):
            return self.method_call(node, func.value.id, func.attr)
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS or node.keywords:
            raise CodegenRefused("call")
        args = "".join(f", {self.node(a)}" for a in node.args)
        return f"{self.bind(FUNCTIONS[func.id].impl)}(scope{args})"

    def method_call(self, node: ast.Call, owner: str, method: str) -> str:
        if method not in ("count", "last") or node.args:
            raise CodegenRefused("method")
        values: dict[str, object] = {}
        for keyword in node.keywords:
            if not isinstance(keyword.value, ast.Constant) or type(keyword.value.value) is not str:
                raise CodegenRefused("filter")
            values[str(keyword.arg)] = keyword.value.value
        if "within" in values:
            values["within"] = parse_duration(values["within"])
        try:
            flt = HistoryFilter(**values) if owner == "history" else EventFilter(**values)
        except TypeError as exc:
            raise CodegenRefused("filter") from exc
        return f"{owner}.{method}({self.bind(flt)})"


def _text_list(node: ast.AST) -> bool:
    return isinstance(node, (ast.List, ast.Tuple)) and all(
        isinstance(e, ast.Constant) and type(e.value) is str for e in node.elts)


def _small_integer(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int \
        and abs(node.value) < MAX_INTEGER


def _nonzero_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) \
        and node.value != 0 and math.isfinite(node.value) and abs(node.value) < MAX_INTEGER
