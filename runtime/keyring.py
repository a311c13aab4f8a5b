"""The consumer side of crypto-shredding: data keys fetched from their producer.

A consumer that contracts/personal.py names as a reader of a key class asks the producing
service for the keys it needs (`POST /v1/data-keys`, a service token with the producer as
audience) and keeps them in memory for `data_key_cache_seconds`, never on disk. A key the
producer no longer has means the case is erased: the event is handled without its personal
fields. A service that is no reader (reporting) never asks, and would be refused.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict

import httpx
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.personal import KeyId, readers_of
from runtime.auth import InvalidToken
from runtime.sealing import b64d
from runtime.settings import ServiceSettings

SERVICE = "service"  # org_type of a service-to-service token
SCOPE = "data-keys:read"


class KeysUnavailable(Exception):
    """The producer could not be asked (down, refused): the batch comes again later."""


class ServiceTokens:
    """Tokens naming this service, one audience (producer) at a time: from the token issuer
    with this service's own client credentials (`service_client_id`/`_secret` at
    `token_url`), or — the embedded stack — handed over ready-made (`service_tokens`, JSON
    audience → token). Cached until shortly before they expire."""

    def __init__(self, settings: ServiceSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport
        self._cache: dict[str, tuple[float, str]] = {}
        given = settings.service_tokens.get_secret_value() if settings.service_tokens else ""
        self._given: dict[str, str] = json.loads(given) if given else {}

    async def token(self, audience: str, client: httpx.AsyncClient) -> str:
        if audience in self._given:
            return self._given[audience]
        now = time.monotonic()
        cached = self._cache.get(audience)
        if cached and cached[0] > now:
            return cached[1]
        s = self._settings
        if not s.service_client_secret:
            raise KeysUnavailable(f"no service credentials to ask {audience} for data keys"
                                  " (SAMENWIJK_SERVICE_CLIENT_SECRET)")
        client_id = s.service_client_id or f"{s.service_name}-service"
        try:
            r = await client.post(s.token_url, data={"grant_type": "client_credentials", "audience": audience},
                                  auth=(client_id, s.service_client_secret.get_secret_value()))
        except httpx.HTTPError as exc:
            raise KeysUnavailable(f"token for {audience}: {type(exc).__name__}") from exc
        if r.status_code != 200:
            raise KeysUnavailable(f"token for {audience}: HTTP {r.status_code}")
        body = r.json()
        self._cache[audience] = (now + max(0.0, float(body.get("expires_in", 60)) - 30), body["access_token"])
        return body["access_token"]


_bearer = HTTPBearer(auto_error=False)


async def service_caller(request: Request,
                         credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
    """FastAPI dependency: the name of the calling service. Its token comes from the one
    issuer, names this service in `aud` (the verifier checks it) and has the scope."""
    if credentials is None:
        raise HTTPException(401, "a service token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        who = request.app.state.runtime.auth.verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise HTTPException(401, f"invalid service token: {exc}", headers={"WWW-Authenticate": "Bearer"}) from exc
    if who.org_type != SERVICE or SCOPE not in who.scopes:
        raise HTTPException(403, "data keys are for services with the data-keys:read scope")
    return who.organisation_id


class KeyRing:
    """Data keys of other services, as this service may read them."""

    MAX_ERASED = 100_000  # remembered erased key ids (bounded; forgetting one only costs a fetch)

    def __init__(self, settings: ServiceSettings, tokens: ServiceTokens | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.service = settings.service_name
        self._urls = settings.key_service_urls
        self._ttl = settings.data_key_cache_seconds
        self._tokens = tokens or ServiceTokens(settings, transport)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._erased: OrderedDict[str, None] = OrderedDict()
        self.fetched = 0

    def may_read(self, kid: KeyId) -> bool:
        return self.service in readers_of(kid.key_class)

    def forget(self, subject: str) -> None:
        """case.erased seen: drop the cached keys of the case at once."""
        for kid in [k for k in self._cache if k.endswith("/" + subject)]:
            del self._cache[kid]

    async def keys(self, kids: set[str]) -> dict[str, bytes | None]:
        """Key per id; None: erased (the producer no longer has it). Raises KeysUnavailable."""
        now = time.monotonic()
        if len(self._cache) > 10_000:  # keep the memory bounded: drop what has run out
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        found: dict[str, bytes | None] = {}
        wanted: dict[str, list[str]] = {}
        for kid in kids:
            cached = self._cache.get(kid)
            if cached and cached[0] > now:
                found[kid] = cached[1]
            elif kid in self._erased:
                found[kid] = None
            else:
                wanted.setdefault(KeyId.parse(kid).producer, []).append(kid)
        for producer, group in wanted.items():
            found.update(await self._fetch(producer, group, now))
        return found

    async def _fetch(self, producer: str, kids: list[str], now: float) -> dict[str, bytes | None]:
        url = self._urls.get(producer)
        if url is None:
            raise KeysUnavailable(f"no key service URL for {producer} (SAMENWIJK_KEY_SERVICE_URLS)")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0, transport=self._transport)
        try:
            token = await self._tokens.token(producer, self._client)
            r = await self._client.post(f"{url}/v1/data-keys", json={"kids": kids},
                                        headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise KeysUnavailable(f"data keys from {producer}: {type(exc).__name__}") from exc
        if r.status_code != 200:
            raise KeysUnavailable(f"data keys from {producer}: HTTP {r.status_code}")
        body = r.json()
        out: dict[str, bytes | None] = {}
        for kid, key in body.get("keys", {}).items():
            out[kid] = b64d(key)
            self._cache[kid] = (now + self._ttl, out[kid])
        for kid in body.get("erased", []):
            out[kid] = None
            self._erased[kid] = None
        while len(self._erased) > self.MAX_ERASED:
            self._erased.popitem(last=False)
        self.fetched += len(kids)
        return out

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
