"""A hook's URL and token (from the model's notifications Secret) and one call to it.

The URL and the token live only in the Secret (``spec.notifications.secretRef``, keys
``urlKey`` and ``tokenKey``): a spec, which many may read, never carries them. A call is a
POST of JSON with the hook's timeout, retried ``retries`` times with a doubling delay (1 s,
2 s, 4 s, ... at most 30 s) after no answer, a timeout or an answer that is not 2xx.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from axiom_operator import api
from axiom_operator.api import duration_seconds
from axiom_operator.certificates import object_entries
from axiom_operator.kube import Kube

logger = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 30.0


class HookConfigError(LookupError):
    """The notifications Secret or one of its keys is missing."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str | None
    timeout_seconds: float
    retries: int

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "axiom-operator"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


async def secret_entries(
    kube: Kube, namespace: str, spec: api.NotificationsSpec
) -> dict[str, bytes]:
    secret = await kube.get("Secret", spec.secret_ref.name, namespace)
    if secret is None:
        raise HookConfigError(f"notifications Secret {namespace}/{spec.secret_ref.name} not found")
    return object_entries("Secret", secret)


def endpoint(target: api.HookTarget, entries: Mapping[str, bytes], secret: str) -> Endpoint:
    if target.url_key not in entries:
        raise HookConfigError(f"key {target.url_key!r} not in Secret {secret}")
    token = None
    if target.token_key is not None:
        if target.token_key not in entries:
            raise HookConfigError(f"key {target.token_key!r} not in Secret {secret}")
        token = entries[target.token_key].decode().strip()
    return Endpoint(
        url=entries[target.url_key].decode().strip(),
        token=token,
        timeout_seconds=duration_seconds(target.timeout),
        retries=target.retries,
    )


async def call(session: aiohttp.ClientSession, hook: Endpoint, payload: dict[str, Any]) -> bool:
    """POST ``payload``; True once an attempt answered 2xx, False when every attempt failed."""
    delay = 1.0
    for attempt in range(hook.retries + 1):
        if attempt:
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        try:
            timeout = aiohttp.ClientTimeout(total=hook.timeout_seconds)
            async with session.post(
                hook.url, json=payload, headers=hook.headers(), timeout=timeout
            ) as answer:
                await answer.read()
                if 200 <= answer.status < 300:
                    return True
                logger.info("hook %s answered %d", _safe(hook.url), answer.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.info("hook %s: %s", _safe(hook.url), type(error).__name__)
    return False


def _safe(url: str) -> str:
    """The URL without its path and query (a Slack URL's path is its secret)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/..."
