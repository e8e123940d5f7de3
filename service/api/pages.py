"""What every page (HTML or PDF, under the API or on the public site) is answered with.

Pages are safe to put on the open internet: ``Content-Security-Policy`` lets them load only what
we serve (``default-src 'self'``: our stylesheet and icon; their charts are inline SVG without
inline styles, and they have no script), and no page may be framed (``frame-ancestors 'none'``)
unless ``PLUSALPHA_FRAME_ANCESTORS`` names the origins that may (a platform's marketplace).
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin`` go with them. A public
page may be kept ``PLUSALPHA_PUBLIC_MAX_AGE`` seconds by browsers and proxies; an answer to a key
is ``private, no-store`` (``service.api.auth.require``). Every page carries its ETag.
"""

from __future__ import annotations

from flask import Response, current_app

from .conditional import conditional_get


def security_headers(config) -> dict[str, str]:
    """The headers of a page under the app's settings."""
    origins = (config.get("FRAME_ANCESTORS") or "").replace(",", " ").split()
    ancestors = " ".join(origins) if origins else "'none'"
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def page_headers(config, filename: str | None = None) -> dict[str, str]:
    """The headers of a page; ``filename`` for a PDF's ``Content-Disposition``."""
    headers = security_headers(config)
    if filename:
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return headers


def public_headers(config, filename: str | None = None) -> dict[str, str]:
    """The headers of a public page: a page's, and its max-age."""
    return {
        **page_headers(config, filename),
        "Cache-Control": f"public, max-age={config['PUBLIC_MAX_AGE']}",
    }


def page(body: bytes, mimetype: str, *, public: bool = False, filename: str | None = None):
    """A page's answer: its headers, and for a public page its max-age and its ETag (or the 304
    that stands for it; a keyed view is ``@conditional``)."""
    config = current_app.config
    make = public_headers if public else page_headers
    response = Response(body, mimetype=mimetype, headers=make(config, filename))
    return conditional_get(response) if public else response
