"""The page: its file and icon, and the security headers every response carries (a
Content-Security-Policy that lets only the page's own inline script and style run)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from aiohttp import web

PAGE = Path(__file__).resolve().parent / "static" / "index.html"
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" '
        'r="16" fill="#9b59b6"/><path d="M13 8v12.2A4 4 0 1 0 15 24V12h7V8z" fill="#fff"/></svg>')


def page_policy(page: str) -> str:
    """Return a Content-Security-Policy that allows the page's own inline script and style
    (by hash: nothing injected into the page could run) and nothing from elsewhere."""
    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
        return " ".join("'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest())
                        .decode() + "'" for b in bodies) or "'none'"

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


SECURITY_HEADERS = {
    "Content-Security-Policy": page_policy(PAGE.read_text(encoding="utf-8")),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors says it too; this is for older browsers
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


async def get_page(request: web.Request) -> web.Response:
    """GET /: the page."""
    return web.FileResponse(PAGE, headers={"Cache-Control": "no-cache"})


async def get_icon(request: web.Request) -> web.Response:
    """GET /favicon.ico (and .svg): a small icon, so browsers stop asking and logs stay clean."""
    return web.Response(text=ICON, content_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})


async def secure(request: web.Request, response: web.StreamResponse) -> None:
    """Add the security headers to every response, errors included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
