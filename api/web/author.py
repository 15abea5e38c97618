"""The rule authors' page, served by the service: ``/author``.

One Jinja template and a script (``static/author.js``) that works only through
the JSON API (``/v1/packs...``) with the author's key, which the browser keeps
for the tab's lifetime (``sessionStorage``) and sends as a bearer token: the
page holds no data of its own and needs no cookie, so the API's roles apply to
it unchanged (author or admin to open it; admin, or author with
``NBA_AUTHORS_MAY_ACTIVATE=1``, to activate and roll back). The editor is
CodeMirror 6, bundled into ``static/pack-editor.js`` (see ``editor/README.md``).
"""
from __future__ import annotations

from flask import Blueprint, render_template

blueprint = Blueprint("author_web", __name__, url_prefix="/author", template_folder="templates",
                      static_folder="static", static_url_path="/static")


@blueprint.get("")
def page():
    return render_template("author/index.html")


@blueprint.after_request
def _no_framing(response):
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; frame-ancestors 'none'")
    return response
