"""``s3://bucket/key``: a SigV4-signed, path-style GET to an S3-compatible endpoint.

Path-style (``<endpoint>/<bucket>/<key>``) because every S3-compatible server speaks it and
it needs no DNS name per bucket; the endpoint, region and credentials are
:class:`~.base.S3Settings`. The body streams through the same sink as any download.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from yarl import URL

from axiom_runtime.sources.base import FetchedPackage, FetchLimits, ModelSourceError, S3Settings
from axiom_runtime.sources.http import stream_get
from axiom_runtime.sources.sigv4 import quote_path, sign_headers


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    parsed = urllib.parse.urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not bucket or not key or parsed.query or parsed.fragment:
        raise ModelSourceError(f"model URI {uri!r}: expected s3://<bucket>/<key>")
    return bucket, key


def signed_request(uri: str, settings: S3Settings) -> tuple[URL, dict[str, str]]:
    """The URL and headers of a signed GET of ``uri``'s object."""
    bucket, key = parse_s3_uri(uri)
    endpoint = urllib.parse.urlparse(settings.endpoint)
    if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
        raise ModelSourceError(f"S3 endpoint {settings.endpoint!r}: expected http(s)://host[:port]")
    base_path = endpoint.path.rstrip("/")
    path = quote_path(f"{base_path}/{bucket}/{key}")
    headers = sign_headers(
        method="GET",
        host=endpoint.netloc,
        path=path,
        region=settings.region,
        access_key_id=settings.access_key_id,
        secret_access_key=settings.secret_access_key,
        session_token=settings.session_token,
    )
    # encoded=True: the path is sent exactly as signed (yarl would otherwise re-quote it).
    return URL(f"{endpoint.scheme}://{endpoint.netloc}{path}", encoded=True), headers


async def fetch(
    uri: str, target: Path, limits: FetchLimits, settings: S3Settings
) -> FetchedPackage:
    url, headers = signed_request(uri, settings)
    return await stream_get(url, target, limits, headers=headers, shown_as=uri)
