"""Forward chaining of ``facts`` rules.

A rule fires at most once per decision (refraction). Rules are evaluated in
stratified order: a rule comes after every rule that sets a fact it reads,
and independent rules keep pack order. With no cycles allowed, one pass in
that order reaches the fixpoint, and the outcome never depends on the order
rules are written in.
"""
from __future__ import annotations

from typing import Any

from engine.language.vocabulary import Scope
from engine.plan import FactRule


def order_fact_rules(rules: list[FactRule]) -> tuple[tuple[FactRule, ...], list[str]]:
    """Rules in stratified order, and the ids of a cycle if there is one."""
    setters: dict[str, list[int]] = {}
    for index, rule in enumerate(rules):
        for key in rule.sets:
            setters.setdefault(key, []).append(index)
    needs = [sorted({s for key in rule.when.facts_read for s in setters.get(key, ())})
             for rule in rules]
    ordered: list[int] = []
    state = [0] * len(rules)  # 0 new, 1 visiting, 2 done
    for start in range(len(rules)):
        cycle = _visit(start, needs, state, ordered, [])
        if cycle:
            return tuple(rules), [rules[i].id for i in cycle]
    return tuple(rules[i] for i in ordered), []


def _visit(index: int, needs: list[list[int]], state: list[int], ordered: list[int],
           trail: list[int]) -> list[int] | None:
    if state[index] == 2:
        return None
    if state[index] == 1:
        return trail[trail.index(index):] + [index]
    state[index] = 1
    for dependency in needs[index]:
        cycle = _visit(dependency, needs, state, ordered, trail + [index])
        if cycle:
            return cycle
    state[index] = 2
    ordered.append(index)
    return None


def derive_facts(rules: tuple[FactRule, ...], scope: Scope) -> list[str]:
    """Fire ``rules`` into ``scope.facts``; the ids of the rules that fired."""
    fired = []
    facts: dict[str, Any] = scope.facts
    for rule in rules:
        if rule.when.evaluate(scope):
            facts.update(rule.sets)
            fired.append(rule.id)
    return fired
