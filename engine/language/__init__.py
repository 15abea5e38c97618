"""The rule-pack language: YAML loading, validation, expressions, the vocabulary
and compilation to an immutable Plan."""
