"""Rule authors' workflow, pure like the rest of the core: versions of packs kept
in a registry (``ports.PackRegistry``), uploads checked completely and tested
before they are stored, activation and rollback with an audit log, structured
diffs, and the follower that keeps every process serving the active version.

Storage reaches this package only through ``PackRegistry``; the in-memory
reference is ``memory.py``, the SQLite and Redis ones are in ``store/``.
"""
