"""Sales representatives, lead routing, call tasks and agendas, pure.

``model.py`` holds agents and tasks, ``hours.py`` working hours and the search
for an agent's next free slot, ``routing.py`` the pack's ``routing:`` rules and
the choice of an agent, ``ports.py`` the ``AgendaStore`` interface (with the
in-memory reference in ``memory.py``), and ``service.py`` the use cases the
API, the worker and the pack tests share (place a task, record a result,
reassign). Agents are data written through the API; routing is pack text.
"""
