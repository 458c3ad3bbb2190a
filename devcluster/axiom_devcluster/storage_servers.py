"""Real storage servers on loopback for the model-source tests: S3 (versitygw), OCI (distribution).

``versitygw`` (Apache-2.0) serves the S3 API over a plain directory (its posix backend), so
a test puts an object by writing a file under ``<root>/<bucket>/`` and the runtime and the
operator read it back through a SigV4-signed GET that the server checks: the signing, the
credentials from a Secret and the streaming path all meet a real implementation. Metadata
goes to a sidecar directory, so the filesystem needs no extended attributes. The binary is
built from its Go module by ``hack/storage/build.sh`` and cached like the control plane's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from axiom_devcluster import addresses, binaries
from axiom_devcluster.process import ManagedProcess, ProcessStartError

BUILD_SCRIPT = binaries.REPO_ROOT / "hack" / "storage" / "build.sh"
VERSIONS_FILE = binaries.REPO_ROOT / "hack" / "storage" / "versions.env"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")


def storage_bin_dir() -> Path:
    """Where build.sh puts the servers; keep the key in step with ``key=`` in build.sh."""
    versions = binaries.read_versions(VERSIONS_FILE)
    key = (
        f"storage-versitygw-{versions['VERSITYGW_VERSION']}"
        f"_registry-{versions['REGISTRY_VERSION']}_oras-{versions['ORAS_VERSION']}"
        f"_r{versions['BUILD_REVISION']}"
    )
    root = Path(os.environ.get("AXIOM_CACHE_DIR", Path.home() / ".cache" / "axiom"))
    return root / "bin" / key


def storage_binary(name: str) -> Path | None:
    """The built server, or None (the caller skips or builds)."""
    path = storage_bin_dir() / name
    return path if path.is_file() else None


def build_storage_servers() -> None:
    """Run hack/storage/build.sh (a no-op when both servers are cached)."""
    if shutil.which("go") is None:
        raise binaries.GoMissingError("go is needed to build the storage servers")
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)


class S3StartError(ProcessStartError):
    """versitygw exited or did not answer in time; holds its log tail."""


class S3Server(ManagedProcess):
    """versitygw's posix backend on 127.0.0.1; a context manager. One root user."""

    name = "versitygw"
    start_error = S3StartError

    def __init__(
        self,
        workdir: Path,
        *,
        access_key_id: str = "axiom-test",
        secret_access_key: str = "axiom-test-secret",
        region: str = "us-east-1",
    ) -> None:
        super().__init__(workdir / "versitygw.log")
        self.workdir = workdir
        self.root = workdir / "data"
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://{addresses.BIND_IP}:{self.port}"

    def prepare(self) -> None:
        (self.workdir / "meta").mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = addresses.free_port()

    def argv(self) -> list[str]:
        binary = storage_binary("versitygw")
        if binary is None:
            raise S3StartError(f"versitygw is not built: run bash {BUILD_SCRIPT}")
        return [
            "env",
            *(f"-u{name}" for name in _PROXY_VARIABLES),
            str(binary),
            "--port",
            f"{addresses.BIND_IP}:{self.port}",
            "--access",
            self.access_key_id,
            "--secret",
            self.secret_access_key,
            "--region",
            self.region,
            "--quiet",
            "posix",
            "--sidecar",
            str(self.workdir / "meta"),
            str(self.root),
        ]

    def ready(self) -> bool:
        # Any HTTP answer (an unsigned request gets 403) means the listener is up.
        try:
            with _NO_PROXY.open(f"{self.endpoint}/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    def put_file(self, bucket: str, key: str, source: Path) -> str:
        """Place ``source`` as object ``bucket/key``; the object's s3:// URI."""
        target = self.root / bucket / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return f"s3://{bucket}/{key}"

    def put_bytes(self, bucket: str, key: str, data: bytes) -> str:
        target = self.root / bucket / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return f"s3://{bucket}/{key}"


class RegistryStartError(ProcessStartError):
    """The registry exited or did not answer in time; holds its log tail."""


def htpasswd_line(user: str, password: str) -> str:
    """``user:bcrypt-hash`` as distribution's htpasswd auth reads it (bcrypt only). The
    libc's crypt(3) (libxcrypt on Debian) makes ``$2b$`` hashes; the ``crypt`` module that
    calls it is deprecated in Python 3.11 and gone in 3.13, where this would need bcrypt."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**4))}"


class OciRegistry(ManagedProcess):
    """The CNCF distribution registry (filesystem storage) on 127.0.0.1 (or ``bind_ip``); a
    context manager. Plain HTTP. Anonymous by default; ``htpasswd={user: password}`` for Basic
    auth, or ``token=TokenServer`` (a started :class:`~.registry_token_server.TokenServer`)
    for the Bearer token flow: the registry answers 401 with its realm and trusts its key."""

    name = "registry"
    start_error = RegistryStartError

    def __init__(
        self,
        workdir: Path,
        *,
        htpasswd: dict[str, str] | None = None,
        token: Any = None,
        bind_ip: str | None = None,
    ) -> None:
        super().__init__(workdir / "registry.log")
        self.workdir = workdir
        self.port = 0
        self.htpasswd = htpasswd
        self.token = token
        self.bind_ip = bind_ip or str(addresses.BIND_IP)

    @property
    def host(self) -> str:
        return f"{self.bind_ip}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = addresses.free_port()
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.workdir / "data")}},
            "http": {"addr": self.host},
        }
        if self.htpasswd is not None:
            path = self.workdir / "htpasswd"
            path.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in self.htpasswd.items()))
            config["auth"] = {"htpasswd": {"realm": "axiom-test", "path": str(path)}}
        elif self.token is not None:
            jwks = self.token.write_jwks(self.workdir / "jwks.json")
            config["auth"] = {
                "token": {
                    "realm": self.token.realm,
                    "service": self.token.service,
                    "issuer": "axiom-test-token-issuer",
                    "jwks": str(jwks),
                }
            }
        (self.workdir / "config.yml").write_text(json.dumps(config))  # JSON is YAML

    def argv(self) -> list[str]:
        binary = storage_binary("registry")
        if binary is None:
            raise RegistryStartError(f"registry is not built: run bash {BUILD_SCRIPT}")
        return [
            "env",
            *(f"-u{name}" for name in _PROXY_VARIABLES),
            "OTEL_TRACES_EXPORTER=none",
            str(binary),
            "serve",
            str(self.workdir / "config.yml"),
        ]

    def ready(self) -> bool:
        try:
            with _NO_PROXY.open(f"{self.url}/v2/", timeout=2) as reply:
                return bool(reply.status == 200)
        except urllib.error.HTTPError as error:
            return error.code == 401 and (self.htpasswd is not None or self.token is not None)
        except (urllib.error.URLError, OSError):
            return False
