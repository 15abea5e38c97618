"""Journeys: events, triggers and multi-step chains of messages.

Pure, like the rest of ``engine/``: ``language.py`` compiles the ``events:``
and ``journeys:`` sections of a pack, ``machine.py`` advances one run given a
stimulus (entry, due time, decision, outcome, event) and returns the change
to apply, ``ports.py`` is the storage interface every backend implements, and
``runner.py`` wires them to the ``DecisionService`` (the API, the worker and
the pack test runner share it).
"""
