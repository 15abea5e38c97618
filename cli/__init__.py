"""The command-line edges that open stores or the network, run by ``python -m
engine <command>`` (engine/__main__.py): the journey worker and its webhook
delivery, publish (an HTTP client of a running service), evaluate and report."""
