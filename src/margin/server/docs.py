"""The API docs, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served from the package.

Margin often runs where the web is unreachable, so nothing is loaded from a CDN: the
Swagger UI and ReDoc bundles come from the ``fastapi-offline`` package (which ships them),
and the pages start them with a script served here rather than inline, so that they work
under a content security policy that forbids inline scripts.
"""

from __future__ import annotations

import html

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

__all__ = ["DOCS_CSP", "mount_docs"]

ASSETS = "/docs/assets"

#: ReDoc styles itself with ``<style>`` elements and renders in a web worker made from a blob.
DOCS_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/dashboard/static/favicon.svg" type="image/svg+xml">
{head}
</head>
<body>
{body}
</body>
</html>
"""

# Swagger UI would otherwise send the document to validator.swagger.io for a badge.
_SWAGGER_INIT = """\
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapi,
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
});
"""


def _html(title: str, head: str, body: str) -> HTMLResponse:
    page = _PAGE.format(title=html.escape(title), head=head, body=body)
    return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})


def _openapi_url(request: Request) -> str:
    root = request.scope.get("root_path", "")
    return html.escape(f"{root}{request.app.openapi_url}", quote=True)


# The pages read their app from the request rather than closing over it: FastAPI keeps the
# endpoints it has seen in caches of its own, so a page holding its app would keep every app
# ever built alive (and an embedding application's or a test's memory growing).
def _swagger_ui(request: Request) -> Response:
    root = request.scope.get("root_path", "")
    return _html(
        f"{request.app.title} API · Swagger UI",
        f'<link rel="stylesheet" href="{root}{ASSETS}/swagger-ui.css">',
        f'<div id="swagger-ui" data-openapi="{_openapi_url(request)}"></div>\n'
        f'<script src="{root}{ASSETS}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{root}/docs/swagger-init.js"></script>',
    )


def _swagger_init() -> Response:
    return Response(_SWAGGER_INIT, media_type="text/javascript")


def _redoc(request: Request) -> Response:
    root = request.scope.get("root_path", "")
    return _html(
        f"{request.app.title} API · ReDoc",
        "",
        f'<redoc spec-url="{_openapi_url(request)}"></redoc>\n'
        f'<script src="{root}{ASSETS}/redoc.standalone.js"></script>',
    )


def mount_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` with their assets (build the app with ``docs_url`` and
    ``redoc_url`` set to None so that FastAPI's CDN pages are not added)."""
    app.add_api_route("/docs", _swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/docs/swagger-init.js", _swagger_init, methods=["GET"], include_in_schema=False
    )
    app.add_api_route("/redoc", _redoc, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")
