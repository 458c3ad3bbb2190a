"""AWS Signature Version 4 for one S3 request (GET or HEAD of an object, path-style).

Written here instead of depending on botocore: the runtime needs one signed GET, and
botocore 1.44.5 alone installs 31 MB (measured: ``pip install --no-deps --target``; mostly its
service descriptions, before jmespath, urllib3 and dateutil) into a runtime image whose whole
virtualenv is 109 MB. The algorithm is the one AWS
documents ("Signature Version 4 signing process"); a unit test pins it to the signature in
AWS's own S3 GET example and the s3:// integration tests run it against a real S3 server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def quote_path(path: str) -> str:
    """URI-encode each segment as S3 wants it (S3 does not encode twice)."""
    return "/".join(urllib.parse.quote(segment, safe="-_.~") for segment in path.split("/"))


def sign_headers(
    *,
    method: str,
    host: str,
    path: str,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    now: dt.datetime | None = None,
    extra_headers: Mapping[str, str] | None = None,
    payload_sha256: str = UNSIGNED_PAYLOAD,
    service: str = "s3",
) -> dict[str, str]:
    """The headers to send (Host excluded: the HTTP client sets it to ``host``).

    ``path`` is already URI-encoded (:func:`quote_path`); no query string is signed.
    """
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {
        "host": host,
        "x-amz-content-sha256": payload_sha256,
        "x-amz-date": amz_date,
    }
    if session_token:
        headers["x-amz-security-token"] = session_token
    for name, value in (extra_headers or {}).items():
        headers[name.lower()] = value.strip()
    signed = sorted(headers)
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in signed)
    signed_headers = ";".join(signed)
    canonical_request = "\n".join(
        [method, path, "", canonical_headers, signed_headers, payload_sha256]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + secret_access_key).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    del headers["host"]
    return headers
