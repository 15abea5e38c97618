"""Learning from logged decisions, pure: off-policy estimators (``estimators.py``)
that say what another policy would have earned on the decisions a service logged
with their probabilities."""
