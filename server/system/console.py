"""The interactive console: Swagger UI at /console over /openapi.json, and the reference's link
to it. CONSOLE_ENABLED off leaves neither: /console is then a 404 like an unknown route."""

from __future__ import annotations

from server.config import Settings
from server.contract.context import App
from server.resources import CONSOLE_DIR
from server.system import assets

# /docs/assets/init.js turns this tag of the docs page into a link to the console.
DOCS_LINK = '<meta name="todo-api-console" content="/console">\n'


def mount(app: App, settings: Settings) -> None:
    """Serve the console page and its assets, or, switched off, drop the reference's link."""
    if not settings.console:
        app.ctx.docs_html = app.ctx.docs_html.replace(DOCS_LINK, "")
        return
    app.ctx.console_html = (CONSOLE_DIR / "index.html").read_text()
    assets.serve_files(app, "/console/assets", CONSOLE_DIR, "console_assets")
