"""Who the client is behind a reverse proxy: FORWARDED_ALLOW_IPS, with uvicorn's meaning.

A request whose peer (the address that connected) is one of the trusted proxies, or any peer
for `*`, takes its client address from `X-Forwarded-For`, else from `Forwarded`: the
right-most address that is not a trusted proxy itself (proxies append; a client can only
prepend lies), or the left-most when every one is trusted. From any other peer both headers
are ignored: a visitor cannot pick an address to dodge the cooldowns or the vote limit. Every
handler, the cooldowns, the vote limit and the log then read `request.remote`.

aiohttp-remotes (aio-libs) does the X-Forwarded-For part with `XForwardedFiltered`; alone, that
class trusts the header from any peer, and its strict sibling wants an exact count of proxies
and answers 400 otherwise, so the peer check is ours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from ipaddress import ip_address, ip_network

from aiohttp import hdrs, web
from aiohttp_remotes import XForwardedFiltered
from aiohttp_remotes.exceptions import IPAddress, IPNetwork, UntrustedIP
from aiohttp_remotes.utils import check_ip, parse_trusted_element

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EVERYONE = (ip_network("0.0.0.0/0"), ip_network("::/0"))  # what `*` trusts


class TrustedProxies:
    """The middleware for FORWARDED_ALLOW_IPS (addresses, networks, or `*`)."""

    def __init__(self, allowed: Sequence[str]) -> None:
        rules = [item for item in allowed if item != "*"]
        self.trusted: list[IPAddress | IPNetwork] = (
            list(EVERYONE) if "*" in allowed else parse_trusted_element(rules))
        self._forwarded_for = XForwardedFiltered(self.trusted)

    def trusts(self, address: str | None) -> bool:
        """Say whether a peer address is a trusted proxy."""
        try:
            check_ip(self.trusted, ip_address(address or ""))
        except (ValueError, UntrustedIP):  # a unix socket has no address: not a proxy
            return False
        return True

    def client(self, forwarded: Sequence[object]) -> str | None:
        """Return the client address a `Forwarded` header gives (None if it gives none)."""
        addresses = []
        for element in forwarded:
            value = element.get("for") if hasattr(element, "get") else None
            try:
                addresses.append(ip_address(str(value).strip("[]")))
            except ValueError:  # "unknown", an obfuscated name: not an address to count by
                continue
        for address in reversed(addresses):
            if not self.trusts(str(address)):
                return str(address)
        return str(addresses[0]) if addresses else None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.trusted or not self.trusts(request.remote):
            return await handler(request)  # the headers of a direct visitor mean nothing
        if hdrs.X_FORWARDED_FOR in request.headers:
            return await self._forwarded_for.middleware(request, handler)
        client = self.client(request.forwarded) if hdrs.FORWARDED in request.headers else None
        return await handler(request.clone(remote=client) if client else request)
