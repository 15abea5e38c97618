"""Action content: Jinja templates compiled at load, rendered in a sandbox."""
from __future__ import annotations

from typing import Any, Mapping

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)
MAX_TEMPLATE_LENGTH = 20_000


class ContentRenderError(Exception):
    """A template that failed while rendering for one contact."""


def compile_content(raw: Any) -> Any:
    """Turn every string of ``raw`` (nested mappings and lists) into a template.

    Raises ``jinja2.TemplateSyntaxError`` (or ValueError) for invalid ones.
    """
    if isinstance(raw, str):
        if len(raw) > MAX_TEMPLATE_LENGTH:
            raise ValueError(f"template longer than {MAX_TEMPLATE_LENGTH} characters")
        return _ENVIRONMENT.from_string(raw) if ("{{" in raw or "{%" in raw) else raw
    if isinstance(raw, dict):
        return {str(k): compile_content(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [compile_content(v) for v in raw]
    return raw


def render_content(compiled: Any, variables: Mapping[str, Any]) -> Any:
    """Render compiled content for one contact; ContentRenderError on failure."""
    if isinstance(compiled, dict):
        return {k: render_content(v, variables) for k, v in compiled.items()}
    if isinstance(compiled, list):
        return [render_content(v, variables) for v in compiled]
    if hasattr(compiled, "render"):
        try:
            return compiled.render(variables)
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise ContentRenderError(str(exc)) from exc
    return compiled
