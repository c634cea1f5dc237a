"""The docs' and the console's own files (scripts, styles, fonts), one route per file.

The routes are made from the folder when the app is made, so a client's path never reaches the
filesystem: a name that is no file there (a folder, a path through a file, a name too long for
the filesystem, a NUL) is the router's 404, like any unknown route. (Sanic's folder route
handed the path to the filesystem, whose errors read as a database outage, 503, or a 500.)"""

from __future__ import annotations

from pathlib import Path

from server.contract.context import App


def serve_files(app: App, uri: str, folder: Path, name: str) -> None:
    """GET and HEAD `uri`/<file> for each file directly in `folder`."""
    files = sorted(path for path in folder.iterdir() if path.is_file())
    for index, path in enumerate(files):
        app.static(f"{uri}/{path.name}", path, name=f"{name}_{index}")
