"""The pack expression language: Python-like syntax, parsed into a whitelist.

An expression is parsed with ``ast`` and every node is checked against the
operations this module knows; each node is then turned into a small closure.
Nothing is ever handed to ``eval``. Semantics are strict: no coercion between
types, a missing attribute is null, and a comparison involving null is false
(except ``== null`` and ``!= null``).
"""
from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from engine.decision.events import EVENTS_FILTERS, EVENTS_METHODS, EventFilter
from engine.decision.history import HISTORY_FILTERS_FIELDS, HistoryFilter
from engine.errors import ExpressionSyntaxError
from engine.language.durations import parse_duration
from engine.language.pysource import MAX_DEPTH, MAX_SOURCE_CHARS, check_limits
from engine.language.vocabulary import FUNCTIONS, HISTORY_METHODS, ROOTS, Scope

Evaluator = Callable[[Scope], Any]
_NUMBER = (int, float)
_LITERAL_NAMES = {"true": True, "false": False, "null": None,
                  "True": True, "False": False, "None": None}


@dataclass(frozen=True)
class Expression:
    """A compiled expression and what it reads."""

    source: str
    evaluate: Evaluator
    facts_read: frozenset[str]
    # False when the value depends only on literals and the extra names
    # (no contact, context, facts, history or clock): it can be computed ahead.
    reads_scope: bool = True
    # The longest ``within`` of its history calls: timedelta(0) if it reads no
    # history, None if some call looks at the whole history.
    history_reach: timedelta | None = timedelta(0)
    # True when it calls events.count / events.last (the contact's events are loaded).
    reads_events: bool = False


def compile_expression(source: object, names: tuple[str, ...] = (),
                       roots: tuple[str, ...] = ()) -> Expression:
    """Compile ``source``; ``names`` are extra bare variables (arbitration), ``roots``
    extra dotted roots read from the same place (``event`` in an event's ``set``)."""
    if isinstance(source, bool) or not isinstance(source, (str, int, float)):
        raise ExpressionSyntaxError("an expression must be text or a number")
    text = str(source)
    if len(text) > MAX_SOURCE_CHARS:
        raise ExpressionSyntaxError(f"expression longer than {MAX_SOURCE_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionSyntaxError(f"not a valid expression: {exc.msg}", exc.offset) from exc
    except (RecursionError, MemoryError) as exc:
        raise ExpressionSyntaxError(f"expression nested more than {MAX_DEPTH} levels deep") \
            from exc
    check_limits(tree)  # before any closure (or generated code) exists
    builder = _Builder(frozenset(names), frozenset(roots))
    evaluate = builder.build(tree.body)
    return Expression(text, evaluate, frozenset(builder.facts_read), builder.reads_scope,
                      builder.history_reach, builder.reads_events)


# --- value semantics -------------------------------------------------------

def strict_equal(a: object, b: object) -> bool:
    """Equality without coercion: ``"5" != 5``, ``true != 1``."""
    if a is None or b is None:
        return a is None and b is None
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta in _NUMBER and tb in _NUMBER:
        return a == b
    return ta is tb and a == b


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[object, object], bool]:
    def compare(a: object, b: object) -> bool:
        ta, tb = type(a), type(b)
        if ta in _NUMBER and tb in _NUMBER:
            return op(a, b)
        return ta is str and tb is str and op(a, b)
    return compare


def _contains(item: object, container: object) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, (list, tuple)):
        return any(strict_equal(item, x) for x in container)
    if isinstance(container, dict):
        return isinstance(item, str) and item in container
    return False


def _not_contains(item: object, container: object) -> bool:
    if not isinstance(container, (str, list, tuple, dict)):
        return False
    return not _contains(item, container)


_COMPARE = {
    ast.Eq: strict_equal,
    ast.NotEq: lambda a, b: not strict_equal(a, b),
    ast.Lt: _ordered(operator.lt), ast.LtE: _ordered(operator.le),
    ast.Gt: _ordered(operator.gt), ast.GtE: _ordered(operator.ge),
    ast.In: _contains, ast.NotIn: _not_contains,
}


def _arithmetic(op: Callable[[Any, Any], Any], strings: bool = False):
    def apply(a: object, b: object) -> object:
        if type(a) in _NUMBER and type(b) in _NUMBER:
            try:
                return op(a, b)
            except (ZeroDivisionError, OverflowError):
                return None
        if strings and type(a) is str and type(b) is str:
            return a + b
        return None
    return apply


_ARITHMETIC = {
    ast.Add: _arithmetic(operator.add, strings=True), ast.Sub: _arithmetic(operator.sub),
    ast.Mult: _arithmetic(operator.mul), ast.Div: _arithmetic(operator.truediv),
    ast.Mod: _arithmetic(operator.mod),
}


def _negate(value: object) -> object:
    return -value if type(value) in _NUMBER else None


# --- building closures -----------------------------------------------------

class _Builder:
    def __init__(self, names: frozenset[str], roots: frozenset[str] = frozenset()):
        self.names = names
        self.roots = roots
        self.reads_events = False
        self.facts_read: set[str] = set()
        self.reads_scope = False
        self.history_reach: timedelta | None = timedelta(0)

    def fail(self, node: ast.AST, message: str) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, getattr(node, "col_offset", -1) + 1)

    def build(self, node: ast.AST) -> Evaluator:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, f"{_describe(node)} is not allowed in pack expressions")
        return method(node)

    def _Constant(self, node: ast.Constant) -> Evaluator:
        value = node.value
        if type(value) not in (int, float, str, bool) and value is not None:
            raise self.fail(node, f"literal {value!r} is not allowed")
        return lambda scope: value

    def _Name(self, node: ast.Name) -> Evaluator:
        if node.id in _LITERAL_NAMES:
            value = _LITERAL_NAMES[node.id]
            return lambda scope: value
        if node.id in self.names:
            name = node.id
            return lambda scope: scope.names.get(name)
        if node.id in ROOTS or node.id in self.roots or node.id in ("history", "events"):
            raise self.fail(node, f"{node.id!r} needs an attribute, like {node.id}.something")
        hint = ", ".join(sorted(self.names)) + ", " if self.names else ""
        raise self.fail(node, f"unknown name {node.id!r}; use {hint}contact.{node.id}, "
                              f"context.{node.id} or facts.{node.id}")

    def _Attribute(self, node: ast.Attribute) -> Evaluator:
        base, path = self.path_of(node)
        self.reads_scope = True
        if any(part.startswith("_") for part in path):
            raise self.fail(node, "attribute names cannot start with an underscore")
        if isinstance(base, ast.Call):  # events.last(type="x").at
            return _value_getter(self.build(base), tuple(path))
        if base == "facts":
            self.facts_read.add(path[0])
        if base in self.roots:
            return _name_getter(base, tuple(path))
        return _path_getter(base, tuple(path))

    def path_of(self, node: ast.AST) -> tuple[str | ast.Call, list[str]]:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call) and _is_method(node, "events"):
            return node, parts[::-1]
        if not isinstance(node, ast.Name) or (node.id not in ROOTS and node.id not in self.roots):
            extra = "".join(f", {root}." for root in sorted(self.roots))
            raise self.fail(node, f"attribute paths start with contact., context., facts.{extra} "
                                  "or events.last(...)")
        return node.id, parts[::-1]

    def _Subscript(self, node: ast.Subscript) -> Evaluator:
        raise self.fail(node, "use dotted paths (contact.scores.appetence), not brackets")

    def _List(self, node: ast.List) -> Evaluator:
        items = [self.build(e) for e in node.elts]
        return lambda scope: [item(scope) for item in items]

    _Tuple = _List

    def _BoolOp(self, node: ast.BoolOp) -> Evaluator:
        parts = tuple(self.build(v) for v in node.values)
        if len(parts) == 2:
            first, second = parts
            if isinstance(node.op, ast.And):
                return lambda scope: bool(first(scope) and second(scope))
            return lambda scope: bool(first(scope) or second(scope))
        if isinstance(node.op, ast.And):
            return lambda scope: all(p(scope) for p in parts)
        return lambda scope: any(p(scope) for p in parts)

    def _UnaryOp(self, node: ast.UnaryOp) -> Evaluator:
        operand = self.build(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda scope: not operand(scope)
        if isinstance(node.op, ast.USub):
            return lambda scope: _negate(operand(scope))
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.fail(node, "operator ~ is not allowed")

    def _BinOp(self, node: ast.BinOp) -> Evaluator:
        apply = _ARITHMETIC.get(type(node.op))
        if apply is None:
            raise self.fail(node, f"operator {_describe(node.op)} is not allowed; use + - * / %")
        left, right = self.build(node.left), self.build(node.right)
        return lambda scope: apply(left(scope), right(scope))

    def _Compare(self, node: ast.Compare) -> Evaluator:
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise self.fail(node, f"comparison {_describe(op)} is not allowed; use == or !=")
        operands = [self.build(node.left)] + [self.build(c) for c in node.comparators]
        if len(node.ops) == 1:
            return _single_comparison(_COMPARE[type(node.ops[0])], operands[0], operands[1],
                                      node.comparators[0])
        tests = tuple(_COMPARE[type(op)] for op in node.ops)
        return _chained_comparison(tests, tuple(operands))

    def _Call(self, node: ast.Call) -> Evaluator:
        if _is_method(node, "history"):
            return self.history_call(node, node.func.attr)
        if _is_method(node, "events"):
            return self.events_call(node, node.func.attr)
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            name = node.func.id if isinstance(node.func, ast.Name) else _describe(node.func)
            raise self.fail(node, f"unknown function {name!r}; known functions: {known}, "
                                  "history.count, history.last, events.count, events.last")
        return self.function_call(node, FUNCTIONS[node.func.id])

    def function_call(self, node: ast.Call, function) -> Evaluator:
        self.reads_scope = True  # functions may read the decision time
        if node.keywords:
            raise self.fail(node, f"{function.name}() takes no keyword arguments")
        count = len(node.args)
        too_many = function.max_args is not None and count > function.max_args
        if count < function.min_args or too_many:
            raise self.fail(node, f"{function.name}() takes {_arity(function)} argument(s), "
                                  f"got {count}")
        args = tuple(self.build(a) for a in node.args)
        impl = function.impl
        if len(args) == 1:
            only = args[0]
            return lambda scope: impl(scope, only(scope))
        if len(args) == 2:
            first, second = args
            return lambda scope: impl(scope, first(scope), second(scope))
        return lambda scope: impl(scope, *[a(scope) for a in args])

    def history_call(self, node: ast.Call, method: str) -> Evaluator:
        if method not in HISTORY_METHODS:
            raise self.fail(node, f"unknown history method {method!r}; use history.count or "
                                  "history.last")
        if node.args:
            raise self.fail(node, f"history.{method}() takes keyword arguments only, "
                                  "like history.count(channel=\"email\", within=\"7d\")")
        flt = self.history_filter(node, method)
        self.reads_scope = True
        if flt.within is None or self.history_reach is None:
            self.history_reach = None
        else:
            self.history_reach = max(self.history_reach, flt.within)
        if method == "count":
            return lambda scope: scope.history.count(flt)
        return lambda scope: scope.history.last(flt)

    def events_call(self, node: ast.Call, method: str) -> Evaluator:
        if method not in EVENTS_METHODS:
            raise self.fail(node, f"unknown events method {method!r}; use events.count or "
                                  "events.last")
        if node.args:
            raise self.fail(node, f"events.{method}() takes keyword arguments only, "
                                  "like events.count(type=\"order_placed\", within=\"30d\")")
        values: dict[str, Any] = {}
        allowed = EVENTS_FILTERS if method == "count" else EVENTS_FILTERS[:-1]
        for keyword in node.keywords:
            if keyword.arg not in allowed:
                raise self.fail(node, f"events.{method}() has no filter {keyword.arg!r}; "
                                      f"use {', '.join(allowed)}")
            if not isinstance(keyword.value, ast.Constant) or not isinstance(keyword.value.value, str):
                raise self.fail(keyword.value, f"filter {keyword.arg} must be a quoted text")
            values[keyword.arg] = keyword.value.value
        if "within" in values:
            try:
                values["within"] = parse_duration(values["within"])
            except ValueError as exc:
                raise self.fail(node, str(exc)) from exc
        self.reads_scope = self.reads_events = True
        flt = EventFilter(values.get("type"), values.get("within"))
        if method == "count":
            return lambda scope: scope.events.count(flt)
        return lambda scope: scope.events.last(flt)

    def history_filter(self, node: ast.Call, method: str) -> HistoryFilter:
        values: dict[str, Any] = {}
        for keyword in node.keywords:
            allowed = HISTORY_FILTERS_FIELDS if method == "count" else HISTORY_FILTERS_FIELDS[:-1]
            if keyword.arg not in allowed:
                raise self.fail(node, f"history.{method}() has no filter {keyword.arg!r}; "
                                      f"use {', '.join(allowed)}")
            if not isinstance(keyword.value, ast.Constant) or not isinstance(keyword.value.value, str):
                raise self.fail(keyword.value, f"filter {keyword.arg} must be a quoted text")
            values[keyword.arg] = keyword.value.value
        if "within" in values:
            try:
                values["within"] = parse_duration(values["within"])
            except ValueError as exc:
                raise self.fail(node, str(exc)) from exc
        return HistoryFilter(**values)


def _single_comparison(test, left: Evaluator, right: Evaluator, right_node: ast.AST) -> Evaluator:
    if test in (_contains, _not_contains) and _text_list(right_node):
        return _membership(left, frozenset(e.value for e in right_node.elts), test is _contains)
    if isinstance(right_node, ast.Constant) and type(right_node.value) in _NUMBER \
            and test in (_COMPARE[ast.Gt], _COMPARE[ast.GtE], _COMPARE[ast.Lt], _COMPARE[ast.LtE]):
        return _numeric_comparison(test, left, right_node.value)
    return lambda scope: test(left(scope), right(scope))


def _text_list(node: ast.AST) -> bool:
    return isinstance(node, (ast.List, ast.Tuple)) and all(
        isinstance(e, ast.Constant) and type(e.value) is str for e in node.elts)


def _membership(left: Evaluator, texts: frozenset[str], inside: bool) -> Evaluator:
    # ``x in ["a", "b"]``: a set lookup; only texts can match texts.
    if inside:
        return lambda scope: (value := left(scope)).__class__ is str and value in texts
    return lambda scope: (value := left(scope)).__class__ is str and value not in texts


def _numeric_comparison(test, left: Evaluator, bound: float) -> Evaluator:
    # The common case ``path > 90``, without the generic type dispatch.
    op = {_COMPARE[ast.Gt]: operator.gt, _COMPARE[ast.GtE]: operator.ge,
          _COMPARE[ast.Lt]: operator.lt, _COMPARE[ast.LtE]: operator.le}[test]

    def compare(scope: Scope) -> bool:
        value = left(scope)
        return type(value) in _NUMBER and op(value, bound)
    return compare


def _chained_comparison(tests: tuple, operands: tuple[Evaluator, ...]) -> Evaluator:
    def compare(scope: Scope) -> bool:
        left = operands[0](scope)
        for test, operand in zip(tests, operands[1:], strict=True):
            right = operand(scope)
            if not test(left, right):
                return False
            left = right
        return True
    return compare


def _is_method(node: ast.Call, owner: str) -> bool:
    return isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
        and node.func.value.id == owner


def _walk(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _value_getter(base: Evaluator, path: tuple[str, ...]) -> Evaluator:
    return lambda scope: _walk(base(scope), path)


def _name_getter(root: str, path: tuple[str, ...]) -> Evaluator:
    return lambda scope: _walk(scope.names.get(root), path)


def _path_getter(root: str, path: tuple[str, ...]) -> Evaluator:
    first = path[0]
    if len(path) == 1:
        if root == "contact":
            return lambda scope: scope.contact.get(first)
        if root == "context":
            return lambda scope: scope.context.get(first)
        return lambda scope: scope.facts.get(first)
    rest = path[1:]

    def get(scope: Scope) -> Any:
        value = getattr(scope, root).get(first)
        for key in rest:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value
    return get


def _arity(function) -> str:
    if function.max_args is None:
        return f"at least {function.min_args}"
    if function.min_args == function.max_args:
        return str(function.min_args)
    return f"{function.min_args} to {function.max_args}"


def _describe(node: ast.AST) -> str:
    names = {ast.Lambda: "lambda", ast.IfExp: "'x if c else y'", ast.Dict: "an object literal",
             ast.Pow: "**", ast.FloorDiv: "//", ast.Is: "'is'", ast.IsNot: "'is not'",
             ast.ListComp: "a comprehension", ast.Starred: "*args", ast.JoinedStr: "an f-string"}
    return names.get(type(node), type(node).__name__)
