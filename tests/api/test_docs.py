"""The docs UI works offline: every asset it loads is served by Tenure itself."""

import re
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.test_auth import assert_problem

BROWSER_PAGE = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
BROWSER_SCRIPT = "*/*"
BROWSER_STYLE = "text/css,*/*;q=0.1"
BROWSER_IMAGE = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
ASSET_ACCEPT = {"text/javascript": BROWSER_SCRIPT, "text/css": BROWSER_STYLE}


def referenced_urls(html: str) -> list[str]:
    """Everything the page makes the browser fetch: src and href attributes, and the spec url."""
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    urls += re.findall(r"""\burl:\s*["']([^"']+)["']""", html)
    return urls


async def docs_page(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/docs", headers={"Accept": BROWSER_PAGE})


class TestDocsPage:
    async def test_answers_a_browser_with_html(self, http: httpx.AsyncClient) -> None:
        response = await docs_page(http)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "SwaggerUIBundle" in response.text

    async def test_loads_nothing_from_another_host(self, http: httpx.AsyncClient) -> None:
        html = (await docs_page(http)).text
        urls = referenced_urls(html)
        assert len(urls) >= 4, urls  # stylesheet, icon, script, OpenAPI document
        assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        assert "http://" not in html
        assert "https://" not in html

    async def test_every_referenced_asset_answers_with_its_content_type(
        self, http: httpx.AsyncClient
    ) -> None:
        html = (await docs_page(http)).text
        expected = {
            "/docs/assets/swagger-ui-bundle.js": "text/javascript",
            "/docs/assets/swagger-ui.css": "text/css",
            "/docs/assets/favicon.png": "image/png",
            "/openapi.json": "application/json",
        }
        assert sorted(urlsplit(u).path for u in referenced_urls(html)) == sorted(expected)
        for path, media_type in expected.items():
            accept = ASSET_ACCEPT.get(media_type, BROWSER_IMAGE)
            response = await http.get(path, headers={"Accept": accept})
            assert response.status_code == 200, f"{path}: {response.text[:200]}"
            assert response.headers["content-type"].split(";")[0] == media_type, path
            assert len(response.content) > 0, path

    async def test_the_script_is_swagger_ui_5(self, http: httpx.AsyncClient) -> None:
        """Swagger UI 4 cannot render OpenAPI 3.1, which is what FastAPI writes."""
        script = await http.get("/docs/assets/swagger-ui-bundle.js")
        assert "SwaggerUIBundle" in script.text
        document = (await http.get("/openapi.json")).json()
        assert document["openapi"].startswith("3.1")
        version = re.search(r'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', script.text)
        assert version is not None
        assert int(version.group(1)) >= 5

    async def test_the_icon_is_a_png(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/docs/assets/favicon.png", headers={"Accept": BROWSER_IMAGE})
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


class TestDocsRoutes:
    @pytest.mark.parametrize("name", ["index.html", "swagger-initializer.js", "..%2Fpyproject"])
    async def test_only_the_pages_assets_are_served(
        self, http: httpx.AsyncClient, name: str
    ) -> None:
        assert_problem(await http.get(f"/docs/assets/{name}"), 404)

    async def test_redoc_is_not_offered(self, http: httpx.AsyncClient) -> None:
        """It would load its script and fonts from CDNs; the Swagger UI is the one docs page."""
        assert (await http.get("/redoc", headers={"Accept": BROWSER_PAGE})).status_code == 404

    async def test_docs_are_not_operations_of_the_api(self, http: httpx.AsyncClient) -> None:
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert [p for p in paths if p.startswith(("/docs", "/redoc"))] == []
