"""Pack conditions lowered to durable-rules conditions over typed attributes.

durable-rules compares loosely (``"5" == 5``, ``true == 1``, a missing
attribute compared through ``$m`` matches). The pack language is strict. So
every value a condition reads (an *operand*: a path, a function call, a
history count, arithmetic...) is computed in Python by the pack language
itself and put on the fact under one attribute whose name carries its type:
``o3n`` for a number, ``o3s`` a text, ``o3b`` true/false, ``o3z`` null,
``o3c`` a list or object (its length), ``o3t`` anything else, ``o3x`` NaN.
Comparisons with literals, membership in a list of texts, the
``and``/``or``/``not`` structure and the truth of bare values are
durable-rules conditions on those attributes: a condition on ``o3n`` cannot
match a text, which gives back strict typing. A comparison between two
computed values (``contact.a > contact.b``) is itself an operand, computed in
Python: durable-rules' ``$m`` references match missing attributes.

Every condition is built with its exact negation, so ``not`` needs no
``$not`` pattern (which cancels other rules' activations in durable-rules).
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ExpressionSyntaxError
from engine.language.expressions import Expression, compile_expression

# --- a small condition tree, measured before it reaches durable-rules -------


@dataclass(frozen=True)
class Leaf:
    """One durable-rules test, such as ``{"$gt": {"o1n": 5}}``."""

    test: dict[str, Any]


@dataclass(frozen=True)
class All:
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class AnyOf:
    """A disjunction; ``exclusive`` when at most one part can hold for a fact."""

    parts: tuple[Any, ...]
    exclusive: bool = False


TRUE = All(())
FALSE = AnyOf((), exclusive=True)


def all_of(*parts: Any) -> Any:
    flat: list[Any] = []
    for part in parts:
        if part == FALSE:
            return FALSE
        flat += part.parts if isinstance(part, All) else [part]
    return flat[0] if len(flat) == 1 else All(tuple(flat))


def any_of(*parts: Any, exclusive: bool = False) -> Any:
    flat: list[Any] = []
    for part in parts:
        if part == TRUE:
            return TRUE
        if isinstance(part, AnyOf) and part.exclusive == exclusive:
            flat += part.parts  # same kind of disjunction: the count is unchanged
        elif part != FALSE:
            flat.append(part)
    return flat[0] if len(flat) == 1 else AnyOf(tuple(flat), exclusive)


def activations(cond: Any) -> int:
    """The most activations one fact can give this condition (durable-rules fires
    a rule once per matching branch of an ``$or``)."""
    if isinstance(cond, Leaf):
        return 1
    counts = [activations(p) for p in cond.parts]
    if isinstance(cond, All):
        return math.prod(counts)
    return max(counts, default=0) if cond.exclusive else sum(counts)


def branches(cond: Any) -> int:
    """How many conjunctions the condition expands to."""
    if isinstance(cond, Leaf):
        return 1
    counts = [branches(p) for p in cond.parts]
    return math.prod(counts) if isinstance(cond, All) else sum(counts)


def widest(cond: Any) -> int:
    """The most tests in one expanded conjunction."""
    if isinstance(cond, Leaf):
        return 1
    counts = [widest(p) for p in cond.parts]
    return sum(counts) if isinstance(cond, All) else max(counts, default=0)


def to_json(cond: Any) -> dict[str, Any]:
    if isinstance(cond, Leaf):
        return cond.test
    if not cond.parts:
        # An empty "$and" sends durable-rules 2.0.28 into an endless loop.
        raise ValueError("constant conditions are resolved before they reach durable-rules")
    key = "$and" if isinstance(cond, All) else "$or"
    return {key: [to_json(p) for p in cond.parts]}


# --- typed attributes --------------------------------------------------------

KINDS = ("n", "s", "b", "z", "c", "t", "x")
_LARGEST = 1.7976931348623157e308


def project(value: Any) -> tuple[str, Any]:
    """(type letter, value as durable-rules can hold it) for one operand value."""
    kind = type(value)
    if value is None:
        return "z", 1
    if kind is bool:
        return "b", value
    if kind is int:
        return "n", value
    if kind is float:
        if math.isnan(value):
            return "x", 1
        return "n", value if math.isfinite(value) else math.copysign(_LARGEST, value)
    if kind is str:
        return "s", value.encode("utf-8", "replace").decode("utf-8")
    if kind in (list, tuple, dict):
        return "c", len(value)
    return "t", value.isoformat() if hasattr(value, "isoformat") else repr(value)


def exists(attr: str) -> Leaf:
    return Leaf({"$ex": {attr: 1}})


def missing(attr: str) -> Leaf:
    return Leaf({"$nex": {attr: 1}})


def test(op: str, attr: str, value: Any) -> Leaf:
    return Leaf({attr: value}) if op == "$eq" else Leaf({op: {attr: value}})


_NEGATED = {"$eq": "$neq", "$neq": "$eq", "$lt": "$gte", "$lte": "$gt", "$gt": "$lte",
            "$gte": "$lt"}
_OPS = {ast.Eq: "$eq", ast.NotEq: "$neq", ast.Lt: "$lt", ast.LtE: "$lte", ast.Gt: "$gt",
        ast.GtE: "$gte"}
_FLIPPED = {"$eq": "$eq", "$neq": "$neq", "$lt": "$gt", "$lte": "$gte", "$gt": "$lt",
            "$gte": "$lte"}


@dataclass(eq=False)
class Operand:
    """A value computed in Python by the pack language, held as attribute o<index><kind>."""

    index: int
    source: str
    expression: Expression

    def attr(self, kind: str) -> str:
        return f"o{self.index}{kind}"


@dataclass
class Operands:
    """The operands of one pack, shared by every rule that reads the same value."""

    items: list[Operand] = field(default_factory=list)
    by_source: dict[str, Operand] = field(default_factory=dict)

    def of(self, node: ast.AST) -> Operand:
        source = ast.unparse(node)
        found = self.by_source.get(source)
        if found is None:
            found = Operand(len(self.items), source, compile_expression(source))
            self.items.append(found)
            self.by_source[source] = found
        return found


class UnsupportedCondition(ValueError):
    """A condition this backend cannot express (the pack is refused at prepare)."""


_NO_LITERAL = object()


class Lowering:
    """Turns expressions into (condition, negation) pairs, recording the operands used."""

    def __init__(self, operands: Operands):
        self.operands = operands
        self.used: list[Operand] = []

    def condition(self, expression: Expression) -> tuple[Any, Any]:
        try:
            tree = ast.parse(expression.source.strip(), mode="eval")
        except SyntaxError as exc:  # the compiled plan parsed it already
            raise UnsupportedCondition(str(exc)) from exc
        return self.lower(tree.body)

    def operand(self, node: ast.AST) -> Operand:
        found = self.operands.of(node)
        if found not in self.used:
            self.used.append(found)
        return found

    def lower(self, node: ast.AST) -> tuple[Any, Any]:
        constant = self.constant(node)
        if constant is not _NO_LITERAL:
            return (TRUE, FALSE) if constant else (FALSE, TRUE)
        if isinstance(node, ast.BoolOp):
            pairs = [self.lower(v) for v in node.values]
            yes, no = [p[0] for p in pairs], [p[1] for p in pairs]
            if isinstance(node.op, ast.And):
                return all_of(*yes), any_of(*no)
            return any_of(*yes), all_of(*no)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yes, no = self.lower(node.operand)
            return no, yes
        if isinstance(node, ast.Compare):
            return self.compare(node)
        return self.truth(self.operand(node))

    def constant(self, node: ast.AST) -> Any:
        """The value of a sub-expression that reads nothing (``true``, ``2 > 1``)."""
        try:
            expression = compile_expression(ast.unparse(node))
        except ExpressionSyntaxError:
            return _NO_LITERAL
        if expression.reads_scope:
            return _NO_LITERAL
        return bool(expression.evaluate(None))  # type: ignore[arg-type]

    def truth(self, o: Operand) -> tuple[Any, Any]:
        yes = any_of(test("$eq", o.attr("b"), True), test("$neq", o.attr("n"), 0),
                     test("$neq", o.attr("s"), ""), test("$gt", o.attr("c"), 0),
                     exists(o.attr("t")), exists(o.attr("x")), exclusive=True)
        no = any_of(exists(o.attr("z")), test("$eq", o.attr("b"), False),
                    test("$eq", o.attr("n"), 0), test("$eq", o.attr("s"), ""),
                    test("$eq", o.attr("c"), 0), exclusive=True)
        return yes, no

    def compare(self, node: ast.Compare) -> tuple[Any, Any]:
        if len(node.ops) > 1 and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            return self.truth(self.operand(node))
        nodes = [node.left, *node.comparators]
        pairs = [self.pair(left, op, right)
                 for left, op, right in zip(nodes, node.ops, nodes[1:], strict=False)]
        return all_of(*[p[0] for p in pairs]), any_of(*[p[1] for p in pairs])

    def pair(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> tuple[Any, Any]:
        if isinstance(op, (ast.In, ast.NotIn)):
            return self.membership(left, isinstance(op, ast.In), right)
        name = _OPS[type(op)]
        lit_left, lit_right = literal(left), literal(right)
        if lit_left is not _NO_LITERAL and lit_right is not _NO_LITERAL:
            expression = compile_expression(ast.unparse(ast.Compare(left, [op], [right])))
            return (TRUE, FALSE) if expression.evaluate(None) else (FALSE, TRUE)  # type: ignore[arg-type]
        if lit_left is not _NO_LITERAL:
            return self.against_literal(self.operand(right), _FLIPPED[name], lit_left)
        if lit_right is not _NO_LITERAL:
            return self.against_literal(self.operand(left), name, lit_right)
        # Two computed values: durable-rules' ``$m`` references match missing
        # attributes, so the comparison itself is one more operand, computed in Python.
        return self.truth(self.operand(ast.Compare(left, [op], [right])))

    def against_literal(self, o: Operand, op: str, value: Any) -> tuple[Any, Any]:
        if value is None:
            if op in ("$eq", "$neq"):
                yes, no = exists(o.attr("z")), missing(o.attr("z"))
                return (yes, no) if op == "$eq" else (no, yes)
            return FALSE, TRUE  # ordering against null is false
        kind, value = project(value)
        if op == "$neq":
            no, yes = self.against_literal(o, "$eq", value)
            return yes, no
        if kind == "b" and op != "$eq":
            return FALSE, TRUE  # true/false are not ordered
        attr = o.attr(kind)
        return test(op, attr, value), any_of(missing(attr), test(_NEGATED[op], attr, value),
                                              exclusive=True)

    def membership(self, item: ast.AST, inside: bool, container: ast.AST) -> tuple[Any, Any]:
        texts = _text_list(container)
        if texts is None or literal(item) is not _NO_LITERAL:
            node = ast.Compare(item, [ast.In() if inside else ast.NotIn()], [container])
            return self.truth(self.operand(node))
        attr = self.operand(item).attr("s")
        equal = [test("$eq", attr, t) for t in texts]
        different = [test("$neq", attr, t) for t in texts]
        if inside:  # a text among the texts
            return any_of(*equal, exclusive=True), any_of(missing(attr), all_of(*different),
                                                          exclusive=True)
        # ``not in`` holds only for a text that is none of them
        return all_of(exists(attr), *different), any_of(missing(attr), *equal, exclusive=True)


def literal(node: ast.AST) -> Any:
    """The value of a scalar literal (``5``, ``-2.5``, ``"gold"``, ``true``, ``null``)."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, str, bool):
        return node.value
    if isinstance(node, ast.Constant) and node.value is None:
        return None
    if isinstance(node, ast.Name) and node.id in ("true", "True", "false", "False", "null",
                                                  "None"):
        return {"true": True, "True": True, "false": False, "False": False}.get(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
            and isinstance(node.operand, ast.Constant) \
            and type(node.operand.value) in (int, float):
        return -node.operand.value
    return _NO_LITERAL


def _text_list(node: ast.AST) -> list[str] | None:
    if isinstance(node, (ast.List, ast.Tuple)) and all(
            isinstance(e, ast.Constant) and type(e.value) is str for e in node.elts):
        return sorted({e.value for e in node.elts})
    return None
