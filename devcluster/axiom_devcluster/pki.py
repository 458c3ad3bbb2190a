"""Certificates and keys for the local control plane, generated fresh for every cluster.

Why our own PKI: the components are started without kubeadm, so nobody else makes the CA,
the apiserver's serving certificate, the admin client certificate (group system:masters, so
RBAC lets it do everything) or the service-account signing key pair. Everything is RSA 2048
(what kube-apiserver expects for the service-account key by default) and written as PEM files
into one directory; nothing here touches the network.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)
FRONT_PROXY_CLIENT = "front-proxy-client"
_SERVICE_DNS_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
)


@dataclass(frozen=True)
class PkiPaths:
    """Where each PEM file of one cluster lives."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    controller_manager_cert: Path
    controller_manager_key: Path
    scheduler_cert: Path
    scheduler_key: Path
    front_proxy_cert: Path
    front_proxy_key: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path
    service_account_key: Path
    service_account_pub: Path

    @classmethod
    def under(cls, directory: Path) -> PkiPaths:
        return cls(
            ca_cert=directory / "ca.crt",
            ca_key=directory / "ca.key",
            serving_cert=directory / "apiserver.crt",
            serving_key=directory / "apiserver.key",
            admin_cert=directory / "admin.crt",
            admin_key=directory / "admin.key",
            controller_manager_cert=directory / "controller-manager.crt",
            controller_manager_key=directory / "controller-manager.key",
            scheduler_cert=directory / "scheduler.crt",
            scheduler_key=directory / "scheduler.key",
            front_proxy_cert=directory / "front-proxy-client.crt",
            front_proxy_key=directory / "front-proxy-client.key",
            kubelet_client_cert=directory / "apiserver-kubelet-client.crt",
            kubelet_client_key=directory / "apiserver-kubelet-client.key",
            service_account_key=directory / "sa.key",
            service_account_pub=directory / "sa.pub",
        )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: rsa.RSAPublicKey
) -> x509.CertificateBuilder:
    # Backdated by a minute so a certificate is valid at once even with slight clock skew
    # between this process and the components reading it.
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
    )


def _make_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _new_key()
    name = _name("axiom-devcluster-ca")
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def serving_sans(
    bind_ip: ipaddress.IPv4Address, first_service_ip: ipaddress.IPv4Address
) -> list[x509.GeneralName]:
    """SANs of the apiserver certificate: the in-cluster names, localhost and both addresses."""
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in _SERVICE_DNS_NAMES]
    addresses = {ipaddress.IPv4Address("127.0.0.1"), bind_ip, first_service_ip}
    names.extend(x509.IPAddress(address) for address in sorted(addresses))
    names.append(x509.IPAddress(ipaddress.IPv6Address("::1")))
    return names


def generate(
    directory: Path,
    bind_ip: ipaddress.IPv4Address,
    first_service_ip: ipaddress.IPv4Address,
) -> PkiPaths:
    """Write a complete fresh PKI for one cluster into ``directory`` and return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = PkiPaths.under(directory)

    ca_key, ca_cert = _make_ca()
    _write_key(paths.ca_key, ca_key)
    _write_cert(paths.ca_cert, ca_cert)

    serving_key, serving_cert = _leaf(
        ca_key,
        ca_cert,
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        serving_sans(bind_ip, first_service_ip),
    )
    _write_key(paths.serving_key, serving_key)
    _write_cert(paths.serving_cert, serving_cert)

    admin_key, admin_cert = _leaf(
        ca_key, ca_cert, _name("axiom-admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    _write_key(paths.admin_key, admin_key)
    _write_cert(paths.admin_cert, admin_cert)

    # The components use the identities the bootstrap RBAC policy grants their permissions to,
    # so RBAC is exercised as in a real cluster rather than bypassed with system:masters.
    for cert_path, key_path, user in (
        (
            paths.controller_manager_cert,
            paths.controller_manager_key,
            "system:kube-controller-manager",
        ),
        (paths.scheduler_cert, paths.scheduler_key, "system:kube-scheduler"),
        # The apiserver's identity towards aggregated APIs (request-header authentication).
        (paths.front_proxy_cert, paths.front_proxy_key, FRONT_PROXY_CLIENT),
    ):
        key, cert = _leaf(ca_key, ca_cert, _name(user), ExtendedKeyUsageOID.CLIENT_AUTH)
        _write_key(key_path, key)
        _write_cert(cert_path, cert)
    # The apiserver's identity towards kubelets (logs, exec): in system:masters, as kubeadm's
    # apiserver-kubelet-client, so a real kubelet's webhook authorization lets it in.
    key, cert = _leaf(
        ca_key,
        ca_cert,
        _name("kube-apiserver-kubelet-client", "system:masters"),
        ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    _write_key(paths.kubelet_client_key, key)
    _write_cert(paths.kubelet_client_cert, cert)

    service_account_key = _new_key()
    _write_key(paths.service_account_key, service_account_key)
    paths.service_account_pub.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return paths


def issue(
    paths: PkiPaths,
    cert_path: Path,
    key_path: Path,
    common_name: str,
    organization: str | None = None,
    *,
    server_ips: list[ipaddress.IPv4Address] | None = None,
) -> None:
    """A further certificate signed by the cluster's CA (a real node's kubelet and kube-proxy):
    a client certificate, or a serving one for ``server_ips``."""
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    if not isinstance(ca_key, rsa.RSAPrivateKey):
        raise TypeError(f"{paths.ca_key}: not an RSA key")
    if server_ips:
        usage = ExtendedKeyUsageOID.SERVER_AUTH
        sans: list[x509.GeneralName] | None = [x509.IPAddress(ip) for ip in server_ips]
    else:
        usage, sans = ExtendedKeyUsageOID.CLIENT_AUTH, None
    key, cert = _leaf(ca_key, ca_cert, _name(common_name, organization), usage, sans)
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
