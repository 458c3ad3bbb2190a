"""Registry authentication for ``oci://``: the credentials users already have for image pulls.

Credentials come from a Docker config JSON -- the ``.dockerconfigjson`` key of a Secret of type
``kubernetes.io/dockerconfigjson``, the same Secret a pod's ``imagePullSecrets`` names. In a pod
it arrives as ``AXIOM_OCI_DOCKER_CONFIG_JSON`` (a ``secretKeyRef``); the operator reads the
Secret itself. An ``auths`` entry matches the registry by ``host[:port]`` (with or without a
``https://``/``http://`` prefix and path, as ``docker login`` writes them) and holds ``auth``
(base64 ``user:password``) or ``username`` and ``password``; ``identitytoken`` is an OAuth2
refresh token, sent to the token server as such.

The flow is the one of the distribution spec and of every registry client:

1. a request without credentials; a 2xx ends here (anonymous registries need no Secret);
2. 401 with ``WWW-Authenticate: Basic realm=...``: retry with ``Authorization: Basic``;
3. 401 with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``: GET the realm with
   ``service`` and ``scope`` (basic credentials if there are any, else anonymously), read
   ``token`` (or ``access_token``) from its JSON answer, retry with ``Authorization: Bearer``;
4. a 401 or 403 after that is a :class:`RegistryAuthError` naming the registry and where the
   credentials came from.

The Authorization header obtained is kept for the rest of the session (one pull: the manifest,
then the blob), and never sent to another host: a registry that redirects a blob to storage
elsewhere gets a plain GET there (aiohttp drops the header on a cross-origin redirect).
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp

from axiom_runtime.sources.base import ModelSourceError

DOCKER_CONFIG_ENV = "AXIOM_OCI_DOCKER_CONFIG_JSON"
DOCKER_CONFIG_KEY = ".dockerconfigjson"
DOCKER_CONFIG_SECRET_TYPE = "kubernetes.io/dockerconfigjson"
_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class RegistryAuthError(ModelSourceError):
    """The registry (or its token server) refused us: no or wrong credentials."""


class RegistryCredentialsError(ModelSourceError):
    """The Docker config JSON is malformed or has no entry for the registry."""


@dataclass(frozen=True, repr=False)
class RegistryCredentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    origin: str = ""  # where they came from, for messages ("Secret ns/name")

    def __repr__(self) -> str:  # never print the password
        return f"RegistryCredentials(username={self.username!r}, origin={self.origin!r})"

    def basic(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


def _registry_key(entry: str) -> str:
    """``https://host:5000/v1/`` -> ``host:5000``; ``host:5000`` stays."""
    if "://" in entry:
        entry = urllib.parse.urlparse(entry).netloc
    return entry.split("/", 1)[0].lower()


def credentials_for(
    config_json: bytes | str, registry: str, *, origin: str = ""
) -> RegistryCredentials:
    """The ``auths`` entry of a Docker config JSON for ``registry`` (``host[:port]``)."""
    where = origin or "the Docker config JSON"
    try:
        doc = json.loads(config_json)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RegistryCredentialsError(f"{where}: not JSON ({error})") from None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise RegistryCredentialsError(f'{where}: no "auths" object (a .dockerconfigjson has one)')
    wanted = registry.lower()
    for key, entry in auths.items():
        if _registry_key(str(key)) != wanted or not isinstance(entry, dict):
            continue
        username = str(entry.get("username") or "")
        password = str(entry.get("password") or "")
        if entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                raise RegistryCredentialsError(
                    f"{where}: the auth of {key!r} is not base64 user:password"
                ) from None
            username, _, password = decoded.partition(":")
        token = str(entry.get("identitytoken") or "")
        if not (username or token):
            raise RegistryCredentialsError(f"{where}: the entry for {key!r} has no credentials")
        return RegistryCredentials(username, password, token, origin)
    known = ", ".join(sorted(_registry_key(str(k)) for k in auths)) or "none"
    raise RegistryCredentialsError(
        f"{where}: no credentials for registry {registry} (has: {known})"
    )


def credentials_from_env(
    registry: str, env: Mapping[str, str] | None = None
) -> RegistryCredentials | None:
    """The pod's credentials for ``registry`` (``AXIOM_OCI_DOCKER_CONFIG_JSON``), or None."""
    value = (os.environ if env is None else env).get(DOCKER_CONFIG_ENV)
    if not value:
        return None
    return credentials_for(value, registry, origin=f"${DOCKER_CONFIG_ENV}")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        match[1].lower(): (match[2].replace('\\"', '"') if match[2] is not None else match[3])
        for match in _PARAM.finditer(rest)
    }
    return scheme.lower(), params


@dataclass
class RegistrySession:
    """An aiohttp session to one registry that answers challenges (see the module docstring).

    ``scope`` is what to ask a token server for when the challenge names none
    (``repository:<name>:pull``, or ``pull,push`` for a push).
    """

    session: aiohttp.ClientSession
    registry: str
    scope: str
    credentials: RegistryCredentials | None = None
    authorization: str | None = field(default=None, repr=False)
    _scopes: set[str] = field(default_factory=set, repr=False)  # token scopes asked so far

    def _who(self) -> str:
        if self.credentials is None:
            return "anonymously (no credentials: set spec.model.oci.credentialsSecretRef)"
        origin = f" from {self.credentials.origin}" if self.credentials.origin else ""
        return f"as {self.credentials.username or '<identity token>'}{origin}"

    @asynccontextmanager
    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: object
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request, authenticated if the registry asks; 401/403 after that raises."""
        for attempt in (0, 1):
            sent = dict(headers or {})
            if self.authorization:
                sent["Authorization"] = self.authorization
            async with self.session.request(method, url, headers=sent, **kwargs) as response:  # type: ignore[arg-type]
                challenge = response.headers.get("WWW-Authenticate", "")
                if response.status == 401 and attempt == 0 and self._worth_answering(challenge):
                    await self._answer(challenge)
                    continue
                if response.status in (401, 403):
                    raise RegistryAuthError(
                        f"registry {self.registry} answered HTTP {response.status} to "
                        f"{method} {urllib.parse.urlparse(url).path} {self._who()}"
                        f"{await _registry_error(response)}"
                    )
                yield response
                return

    def _worth_answering(self, challenge: str) -> bool:
        """First challenge of the session, or a token challenge for a scope not asked yet (a
        push's token for ``pull`` is refused at the first upload: ``pull,push`` is needed)."""
        if not self.authorization:
            return True
        scheme, params = parse_challenge(challenge)
        return scheme == "bearer" and params.get("scope", "") not in self._scopes

    async def _answer(self, challenge: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.credentials is None or not self.credentials.username:
                raise RegistryAuthError(
                    f"registry {self.registry} requires basic authentication; no credentials "
                    "(set spec.model.oci.credentialsSecretRef to a kubernetes.io/dockerconfigjson "
                    "Secret)"
                )
            self.authorization = self.credentials.basic()
            return
        if scheme != "bearer" or not params.get("realm"):
            raise RegistryAuthError(
                f"registry {self.registry} answered 401 with an unsupported challenge {challenge!r}"
            )
        self.authorization = f"Bearer {await self._token(params)}"

    async def _token(self, params: Mapping[str, str]) -> str:
        realm = params["realm"]
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        self._scopes.add(params.get("scope", ""))
        for scope in (params.get("scope") or self.scope).split(" "):
            if scope:
                query.append(("scope", scope))
        headers: dict[str, str] = {}
        method, data = "GET", None
        if self.credentials is not None and self.credentials.identity_token:
            # An OAuth2 refresh token is exchanged with a POST (distribution's token spec).
            method = "POST"
            data = {
                "grant_type": "refresh_token",
                "refresh_token": self.credentials.identity_token,
                "service": params.get("service", ""),
                "scope": params.get("scope") or self.scope,
                "client_id": "axiom",
            }
            query = []
        elif self.credentials is not None and self.credentials.username:
            headers["Authorization"] = self.credentials.basic()
        url = (
            realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
            if query
            else realm
        )
        try:
            async with self.session.request(method, url, headers=headers, data=data) as answer:
                if answer.status != 200:
                    raise RegistryAuthError(
                        f"token server {urllib.parse.urlparse(realm).netloc} of registry "
                        f"{self.registry} answered HTTP {answer.status} {self._who()}"
                    )
                body = await answer.content.read(1 << 20)
        except aiohttp.ClientError as error:
            raise ModelSourceError(
                f"token server {realm} of registry {self.registry}: {type(error).__name__}: {error}"
            ) from None
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryAuthError(
                f"token server {realm} of registry {self.registry} sent no token in its answer"
            )
        return token


async def _registry_error(response: aiohttp.ClientResponse) -> str:
    """The first error code of a distribution-style JSON error body, if any."""
    try:
        doc = json.loads(await response.content.read(4096))
        code = doc["errors"][0]["code"]
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError, TypeError):
        return ""
    return f" ({code})"
