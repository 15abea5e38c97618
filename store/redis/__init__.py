"""The Redis and Redis Cluster backends: one module per store, the shared client
with its timeouts, retries and circuit breaker (base.py), and the Lua scripts
that do their atomic work (lua/)."""
