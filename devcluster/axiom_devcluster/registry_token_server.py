"""A test stand-in for a registry's token server (the Docker/distribution token protocol).

**Stand-in, not a product**: a real deployment has its own token service (Harbor's, a cloud
registry's, docker_auth...). What cannot run here is any of those; what this one does is the
part of the protocol a registry client meets, so that the client code runs against the real
distribution registry configured with ``auth: token``:

- ``GET /token?service=S&scope=repository:NAME:pull[,push]`` with HTTP Basic credentials (or
  none: anonymous), answered with ``{"token": JWT, "access_token": JWT, "expires_in": N}``;
- the JWT is ES256-signed with a test key the registry trusts through a JWKS file
  (``jwks`` option of distribution's token auth), header ``kid``; claims ``iss``, ``sub``,
  ``aud`` (= service), ``exp``/``nbf``/``iat``, ``jti`` and ``access`` (what was granted: the
  asked actions the user has, nothing for an anonymous or unknown client);
- ``POST /token`` with the OAuth2 form (``grant_type=password``, ``username``, ``password``,
  ``service``, ``scope``), answered with ``access_token``: what containerd sends first when it
  has a username and password (it falls back to GET only on 404/405);
- wrong credentials get 401, as real token servers answer.

Every request is recorded in :attr:`TokenServer.requests` (path, user) so tests can prove the
flow went through it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER = "axiom-test-token-issuer"
KEY_ID = "axiom-test-key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    """``users``: name -> (password, actions that user may have, e.g. ("pull", "push"))."""

    users: Mapping[str, tuple[str, tuple[str, ...]]]
    service: str = "axiom-test-registry"
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    _key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    _server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"http://{self.host}:{self.port}/token"

    def write_jwks(self, path: Path) -> Path:
        numbers = self._key.public_key().public_numbers()
        key = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
            "kid": KEY_ID,
            "use": "sig",
            "alg": "ES256",
        }
        path.write_text(json.dumps({"keys": [key]}))
        return path

    def issue(self, subject: str, scopes: list[str]) -> str:
        granted = []
        allowed = self.users.get(subject, ("", ()))[1]
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            wanted = [a for a in actions.split(",") if a in allowed]
            granted.append({"type": kind, "name": name, "actions": wanted})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": granted,
        }
        header = {"alg": "ES256", "typ": "JWT", "kid": KEY_ID}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _user(self, authorization: str | None) -> str | None:
        """'' for anonymous, the name for valid credentials, None for wrong ones."""
        if not authorization:
            return ""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            name, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        entry = self.users.get(name)
        return name if entry is not None and entry[0] == password else None

    def __enter__(self) -> TokenServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(parsed.query)
                user = outer._user(self.headers.get("Authorization"))
                outer.requests.append((self.path, user if user is not None else "<refused>"))
                if parsed.path != "/token" or query.get("service") != [outer.service]:
                    self.send_error(400)
                    return
                if user is None:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", f'Basic realm="{outer.service}"')
                    self.end_headers()
                    return
                token = outer.issue(user, query.get("scope", []))
                body = json.dumps({"token": token, "access_token": token, "expires_in": 300})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                name = (form.get("username") or [""])[0]
                password = (form.get("password") or [""])[0]
                entry = outer.users.get(name)
                valid = (
                    form.get("grant_type") == ["password"]
                    and entry is not None
                    and entry[0] == password
                )
                outer.requests.append((f"POST {self.path}", name if valid else "<refused>"))
                if urllib.parse.urlparse(self.path).path != "/token" or form.get("service") != [
                    outer.service
                ]:
                    self.send_error(400)
                    return
                if not valid:
                    self.send_error(401)
                    return
                scopes = " ".join(form.get("scope", [])).split()
                token = outer.issue(name, scopes)
                body = json.dumps(
                    {"access_token": token, "expires_in": 300, "scope": " ".join(scopes)}
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
