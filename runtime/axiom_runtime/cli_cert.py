"""``axiom cert``: signing keys, signing a package's certificate, and verifying one.

Only ``sign`` loads a model, so only it imports the package reader and numpy (inside
:func:`run_sign`): ``verify`` and ``keygen`` start in the time the standard library and
``cryptography`` take.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from axiom_runtime.certificate import (
    certificate_json,
    format_time,
    parse_property,
    parse_time,
    verify_certificate,
)
from axiom_runtime.cli import EXIT_FAILURE, EXIT_OK, CommandFailed
from axiom_runtime.cli_io import prepare_rows, read_input, write_atomically
from axiom_runtime.digest import sha256_file
from axiom_runtime.keys import (
    KEY_ID_PATTERN,
    generate_private_key,
    key_id_for,
    load_private_key,
    load_trusted_keys,
    private_key_pem,
    public_key_pem,
)

EPILOG = """\
examples:
  axiom cert keygen --private-key signing.pem --trusted-dir trusted/
  axiom cert sign model-1.0.0.axiom --key signing.pem --issuer "ml-team" \\
      --data holdout.npy --property valid_probabilities --property "bounded_output(0, 1)"
  axiom cert verify model-1.0.0.cert.json --trusted-keys trusted/ --package model-1.0.0.axiom
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    commands = parser.add_subparsers(title="subcommands", metavar="<subcommand>")

    keygen = commands.add_parser(
        "keygen",
        help="create an Ed25519 signing key and its trusted public key file",
        description="Write a new private key (PEM, mode 0600) and the public key as "
        "TRUSTED_DIR/<key id>, a directory that can be turned into a Kubernetes Secret as-is "
        "(kubectl create secret generic axiom-trusted-keys --from-file=TRUSTED_DIR).",
    )
    keygen.add_argument("--private-key", required=True, metavar="PATH")
    keygen.add_argument("--trusted-dir", required=True, metavar="DIR")
    keygen.add_argument("--key-id", help="default: ed25519-<fingerprint of the public key>")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing private key")
    keygen.set_defaults(handler=run_keygen)

    sign = commands.add_parser(
        "sign",
        help="check properties on data, then sign a certificate for a package",
        description="Load PACKAGE, evaluate each --property on the model's outputs for --data, "
        "and, only if all hold, write a signed certificate binding the package's name, version "
        "and SHA-256. Properties: valid_probabilities[(tolerance)], bounded_output(low, high), "
        "no_nan, no_inf.",
    )
    sign.add_argument("package", metavar="PACKAGE")
    sign.add_argument(
        "--format",
        choices=["axiom", "oms"],
        default="axiom",
        help="axiom: a property certificate (Ed25519 key); oms: an OpenSSF Model Signing "
        "bundle of the package file (ECDSA P-256/384/521 key, or with --signing-certificate "
        "a certificate chain), written through the model-signing library",
    )
    sign.add_argument("--key", required=True, metavar="PRIVATE_KEY.pem")
    sign.add_argument("--key-id", help="default: the fingerprint id that keygen uses")
    sign.add_argument("--issuer", help="who vouches for this model (required for axiom)")
    sign.add_argument(
        "--signing-certificate", metavar="CERT.pem", help="oms: sign as this certificate's key"
    )
    sign.add_argument(
        "--certificate-chain",
        action="append",
        default=[],
        metavar="CA.pem",
        help="oms: the issuing CA certificates to put into the bundle, leaf's issuer first "
        "(repeatable; at least one with --signing-certificate)",
    )
    sign.add_argument(
        "--property", action="append", default=[], dest="properties", metavar="PROPERTY"
    )
    sign.add_argument("--data", metavar="FILE", help="inputs to check properties on (.npy or JSON)")
    expiry = sign.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in-days", type=float, metavar="DAYS")
    expiry.add_argument("--expires-at", metavar="TIME", help="ISO 8601, e.g. 2027-01-01T00:00:00Z")
    sign.add_argument(
        "--created-at", metavar="TIME", help="default: now (set it for reproducible output)"
    )
    sign.add_argument(
        "-o",
        "--output",
        metavar="CERT.json",
        help="default: PACKAGE with .cert.json (axiom) or .sig (oms)",
    )
    sign.set_defaults(handler=run_sign)

    verify = commands.add_parser(
        "verify",
        help="verify a certificate (and optionally that it matches a package)",
        description="Exit 0 if the certificate is well-formed, signed by a trusted key, within "
        "its validity period and (when given) matches the package bytes, name and version; "
        "otherwise exit 1 with the reason on stderr.",
    )
    verify.add_argument("certificate", metavar="CERT.json")
    verify.add_argument(
        "--format",
        choices=["axiom", "oms"],
        default="axiom",
        help="oms: CERT is an OMS bundle, checked against the EC keys and CA certificates "
        "among --trusted-keys and against --package (required)",
    )
    verify.add_argument(
        "--trusted-keys",
        required=True,
        metavar="PATH",
        help="directory of key files or one key_id: key file",
    )
    verify.add_argument(
        "--package", metavar="PACKAGE", help="check the certificate names these bytes"
    )
    verify.add_argument("--name", help="the model name being deployed")
    verify.add_argument("--version", help="the model version being deployed")
    verify.add_argument("--now", metavar="TIME", help="check validity at this time instead of now")
    verify.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    verify.set_defaults(handler=run_verify)


def _time(value: str, option: str) -> datetime:
    from axiom_runtime.errors import CertificateError

    try:
        return parse_time(value, option)
    except CertificateError as exc:
        raise CommandFailed(str(exc)) from None


def run_keygen(options: argparse.Namespace) -> int:
    private_path = Path(options.private_key)
    if private_path.exists() and not options.force:
        raise CommandFailed(f"{private_path} exists; pass --force to replace it")
    key = generate_private_key()
    key_id = options.key_id or key_id_for(key.public_key())
    if not KEY_ID_PATTERN.match(key_id):
        raise CommandFailed(f"--key-id {key_id!r} must match {KEY_ID_PATTERN.pattern}")
    trusted = Path(options.trusted_dir)
    trusted.mkdir(parents=True, exist_ok=True)
    write_atomically(
        private_path, private_key_pem(key, comment=f"axiom signing key {key_id}"), mode=0o600
    )
    write_atomically(trusted / key_id, public_key_pem(key.public_key()))
    print(f"key id {key_id}: private key {private_path}, public key {trusted / key_id}")
    return EXIT_OK


def run_sign(options: argparse.Namespace) -> int:
    if options.format == "oms":
        return _run_sign_oms(options)
    if not options.issuer:
        raise CommandFailed("--issuer is required for a property certificate (--format axiom)")
    from axiom_runtime.certificate.signing import sign_certificate
    from axiom_runtime.package import load_package

    package = load_package(options.package)
    key = load_private_key(options.key)
    properties = [parse_property(text) for text in options.properties]
    data = (
        prepare_rows(package, read_input(options.data), f"--data {options.data}")
        if options.data
        else None
    )
    created = (
        _time(options.created_at, "--created-at")
        if options.created_at
        else datetime.now(UTC).replace(microsecond=0)
    )
    expires = None
    if options.expires_at:
        expires = _time(options.expires_at, "--expires-at")
    elif options.expires_in_days is not None:
        expires = created + timedelta(days=options.expires_in_days)
    document = sign_certificate(
        package,
        key,
        issuer=options.issuer,
        key_id=options.key_id,
        properties=properties,
        data=data,
        created_at=created,
        expires_at=expires,
    )
    output = Path(options.output or _default_certificate_path(options.package))
    write_atomically(output, certificate_json(document).encode("utf-8"))
    for check in document["verification"]["properties"]:
        params = ", ".join(f"{k}={v:g}" for k, v in check["params"].items())
        observed = ", ".join(f"{k}={v:g}" for k, v in check["observed"].items())
        print(f"  {check['status']}: {check['name']}({params}); observed {observed}")
    expiry = "no expiry" if expires is None else f"expires {format_time(expires)}"
    print(
        f"wrote {output}: {package.spec.name} {package.spec.version}, key {document['signature']['key_id']}, {expiry}"
    )
    return EXIT_OK


def _run_sign_oms(options: argparse.Namespace) -> int:
    from axiom_runtime.certificate.oms import sign_oms_bundle
    from axiom_runtime.package import load_package

    if options.properties or options.data or options.issuer:
        raise CommandFailed(
            "--format oms signs which bytes were published, not properties: sign a property "
            "certificate with --format axiom as well (docs/model-sources.md)"
        )
    if options.signing_certificate and not options.certificate_chain:
        # model-signing 1.1.1 cannot write a chain of the leaf alone.
        raise CommandFailed(
            "--signing-certificate needs --certificate-chain: at least the issuing CA's certificate"
        )
    package = load_package(options.package)  # refuse to sign what would not load
    output = Path(options.output or _default_path(options.package, ".sig"))
    try:
        sign_oms_bundle(
            options.package,
            output,
            private_key=options.key,
            signing_certificate=options.signing_certificate,
            certificate_chain=tuple(options.certificate_chain),
        )
    except (ValueError, TypeError, OSError) as error:
        raise CommandFailed(f"cannot sign an OMS bundle: {error}") from None
    print(
        f"wrote {output}: OMS bundle of {package.spec.name} {package.spec.version}, "
        f"sha256 {package.sha256}"
    )
    return EXIT_OK


def _default_path(package: str, suffix: str) -> str:
    stem = package[: -len(".axiom")] if package.endswith(".axiom") else package
    return stem + suffix


def _default_certificate_path(package: str) -> str:
    return (
        package[: -len(".axiom")] + ".cert.json"
        if package.endswith(".axiom")
        else package + ".cert.json"
    )


def run_verify(options: argparse.Namespace) -> int:
    if options.format == "oms":
        return _run_verify_oms(options)
    keys = load_trusted_keys(options.trusted_keys)
    certificate = Path(options.certificate).read_bytes()
    result = verify_certificate(
        certificate,
        keys,
        package_sha256=sha256_file(options.package) if options.package else None,
        expected_name=options.name,
        expected_version=options.version,
        now=_time(options.now, "--now") if options.now else None,
    )
    if options.json:
        print(
            json.dumps({"ok": result.ok, "reason": result.reason.value, "message": result.message})
        )
    if result.ok:
        if not options.json:
            print(result.message)
        return EXIT_OK
    print(f"axiom: verification failed [{result.reason.value}]: {result.message}", file=sys.stderr)
    return EXIT_FAILURE


def _run_verify_oms(options: argparse.Namespace) -> int:
    from axiom_runtime.certificate.oms import OmsTrust, verify_oms_bundle

    if not options.package:
        raise CommandFailed("--format oms needs --package: the bundle signs the package's bytes")
    trusted = Path(options.trusted_keys)
    if not trusted.is_dir():
        raise CommandFailed(f"--trusted-keys {trusted}: a directory of key and CA files for oms")
    verdict = verify_oms_bundle(
        Path(options.certificate).read_bytes(),
        OmsTrust.from_directory(trusted),
        package_sha256=sha256_file(options.package),
    )
    if options.json:
        print(
            json.dumps(
                {"ok": verdict.ok, "reason": verdict.reason.value, "message": verdict.message}
            )
        )
    if verdict.ok:
        if not options.json:
            print(verdict.message)
        return EXIT_OK
    print(
        f"axiom: verification failed [{verdict.reason.value}]: {verdict.message}", file=sys.stderr
    )
    return EXIT_FAILURE
