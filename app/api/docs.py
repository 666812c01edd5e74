"""The interactive API docs (Swagger UI), served from the installed package: no CDN needed."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from app.errors import NotFound

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
OPENAPI_PATH = "/openapi.json"
SWAGGER_UI_DIST = Path(swagger_ui_path)

# Only the files the page loads: the package's demo index.html would fetch a remote petstore.
ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui.css", "text/css"),
    "favicon.png": ("favicon-32x32.png", "image/png"),
}

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{OPENAPI_PATH}",
        title="Tenure API",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
    )


@router.get(f"{ASSETS_PATH}/{{name}}")
async def swagger_ui_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound("no such docs asset")
    filename, media_type = ASSETS[name]
    return FileResponse(
        SWAGGER_UI_DIST / filename,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )
