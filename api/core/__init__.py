"""What every request goes through: API keys and roles (auth), request bodies,
the one error format, the agent screen's cookie sessions, the access log,
metrics and error telemetry."""
