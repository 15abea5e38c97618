"""One decision: facts, candidate checks, scoring and ranking, history and event
windows, reservations, fallbacks and content rendering. Pure: no I/O."""
