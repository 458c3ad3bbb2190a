"""Model sources: scheme dispatch, the SigV4 signer, the hashing sink, streaming load."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path

import pytest

from axiom_runtime.package import load_package, sha256_file
from axiom_runtime.sources import FetchLimits, ModelSourceError, S3Settings, fetch, scheme_of
from axiom_runtime.sources.base import HashingSink
from axiom_runtime.sources.s3 import parse_s3_uri, signed_request
from axiom_runtime.sources.sigv4 import EMPTY_SHA256, quote_path, sign_headers

EXAMPLE_DIGITS = Path(__file__).parents[2] / "examples" / "digits" / "digits-1.0.0.axiom"


def test_aws_documented_get_object_example_signature() -> None:
    # The GET Object example of AWS's "Signature Version 4: authenticating requests" page.
    headers = sign_headers(
        method="GET",
        host="examplebucket.s3.amazonaws.com",
        path="/test.txt",
        region="us-east-1",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        now=dt.datetime(2013, 5, 24, tzinfo=dt.UTC),
        extra_headers={"Range": "bytes=0-9"},
        payload_sha256=EMPTY_SHA256,
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert "host" not in headers


def test_session_token_is_sent_and_signed() -> None:
    headers = sign_headers(
        method="GET",
        host="127.0.0.1:9000",
        path="/b/k",
        region="us-east-1",
        access_key_id="id",
        secret_access_key="secret",
        session_token="token",
    )
    assert headers["x-amz-security-token"] == "token"
    assert "x-amz-security-token" in headers["authorization"]


def test_s3_uri_is_bucket_and_key() -> None:
    assert parse_s3_uri("s3://models/team/mnist-1.0.0.axiom") == (
        "models",
        "team/mnist-1.0.0.axiom",
    )


@pytest.mark.parametrize(
    "uri", ["s3://models", "s3://models/", "s3:///key", "s3://b/k?versionId=1"]
)
def test_malformed_s3_uri_is_refused(uri: str) -> None:
    with pytest.raises(ModelSourceError, match="expected s3://"):
        parse_s3_uri(uri)


def test_signed_request_is_path_style_and_quoted_once() -> None:
    settings = S3Settings("http://127.0.0.1:9000", "eu-west-1", "id", "secret")
    url, headers = signed_request("s3://models/a b/m.axiom", settings)
    assert str(url) == "http://127.0.0.1:9000/models/a%20b/m.axiom"
    assert "/eu-west-1/s3/aws4_request" in headers["authorization"]
    assert quote_path("/a b/c~d") == "/a%20b/c~d"


def test_s3_settings_name_what_is_missing_and_never_show_the_secret() -> None:
    with pytest.raises(ModelSourceError, match="AXIOM_S3_ENDPOINT, AWS_SECRET_ACCESS_KEY"):
        S3Settings.from_env({"AWS_ACCESS_KEY_ID": "id"})
    settings = S3Settings.from_env(
        {
            "AXIOM_S3_ENDPOINT": "http://127.0.0.1:1/",
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "hush",
        }
    )
    assert settings.endpoint == "http://127.0.0.1:1" and settings.region == "us-east-1"
    assert "hush" not in repr(settings)


@pytest.mark.parametrize("uri", ["gs://b/k", "hf://org/model", "ftp://host/x"])
def test_unknown_scheme_is_refused_by_name(uri: str) -> None:
    with pytest.raises(ModelSourceError, match="is not supported"):
        scheme_of(uri)


def test_sink_hashes_what_it_writes(tmp_path: Path) -> None:
    with HashingSink(tmp_path / "p", "uri", 100) as sink:
        sink.write(b"abc")
        sink.write(b"def")
    result = sink.result()
    assert result.sha256 == hashlib.sha256(b"abcdef").hexdigest() and result.size == 6
    assert (tmp_path / "p").read_bytes() == b"abcdef"


def test_sink_refuses_past_the_cap_and_leaves_no_file(tmp_path: Path) -> None:
    with (
        pytest.raises(ModelSourceError, match="download cap of 4"),
        HashingSink(tmp_path / "p", "uri", 4) as sink,
    ):
        sink.write(b"abcde")
    assert not (tmp_path / "p").exists()


def test_local_file_is_not_hashed_until_loaded(tmp_path: Path) -> None:
    fetched = asyncio.run(fetch(f"file://{EXAMPLE_DIGITS}", tmp_path, FetchLimits(1, 1)))
    assert fetched.path == EXAMPLE_DIGITS and fetched.sha256 is None
    assert load_package(fetched.path).sha256 == sha256_file(EXAMPLE_DIGITS)


def test_a_hash_computed_while_downloading_is_the_package_identity() -> None:
    # The loader trusts the sink's digest of a private file instead of reading it again.
    assert load_package(EXAMPLE_DIGITS, sha256="0" * 64).sha256 == "0" * 64
