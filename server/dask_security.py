"""TLS credentials for Dask: the local cluster's own, and those given for an existing cluster.

The server's local cluster speaks only mutual TLS on 127.0.0.1: its
scheduler, its workers and the server's client each present a certificate
signed by a certificate authority made for this data directory, and accept
no peer without one. Another local process cannot connect to the scheduler,
let alone run code on a worker, unless it can read the key, which lives in
``<data_dir>/dask-tls/`` (a 0700 directory, files 0600).

The authority's own key is thrown away once it has signed: nothing can sign
another certificate it trusts. The credentials are made again when missing,
unreadable or close to their end, and only as a cluster starts (a running
cluster keeps the ones its processes loaded).

An existing cluster behind TLS (``[dask] scheduler_address = "tls://..."``)
is reached with the files named by ``[dask] tls_ca_file``,
``tls_client_cert`` and ``tls_client_key``: see :class:`ExternalTLS`.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
from pathlib import Path
from typing import Any

from covalent_nb.errors import ConfigError

__all__ = ["CREDENTIALS_DIR", "ExternalTLS", "LocalCredentials", "local_cluster_security"]

CREDENTIALS_DIR = "dask-tls"
"""The folder of the data directory holding the local cluster's credentials."""

VALID_DAYS = 365
RENEW_DAYS = 30
"""Credentials with fewer days than this left are made again at the next cluster start."""


@dataclasses.dataclass(frozen=True)
class LocalCredentials:
    """The local cluster's credentials: files, or PEM text when kept in memory only."""

    ca: str
    """The certificate authority's certificate (the only one the cluster's processes trust)."""
    cert: str
    """The certificate that the scheduler, the workers and the server's client present."""
    key: str
    """Its private key."""

    def security(self) -> Any:
        """A ``distributed.security.Security`` for mutual TLS with these credentials, for every role."""
        from distributed.security import Security

        roles = {f"tls_{role}_{part}": value for role in ("client", "scheduler", "worker")
                 for part, value in (("cert", self.cert), ("key", self.key))}
        return Security(require_encryption=True, tls_ca_file=self.ca, **roles)


def local_cluster_security(directory: Path | None) -> Any:
    """Mutual TLS for a local cluster, its credentials kept in ``directory`` (None: in memory only).

    Called as the cluster starts: credentials found there are used when
    they are whole and not close to their end, else new ones are made.
    """
    if directory is None:
        ca_pem, cert_pem, key_pem = _generate()
        return LocalCredentials(ca_pem.decode(), cert_pem.decode(), key_pem.decode()).security()
    return _credentials_in(Path(directory)).security()


def _credentials_in(directory: Path) -> LocalCredentials:
    files = LocalCredentials(ca=str(directory / "ca.pem"), cert=str(directory / "cluster.pem"),
                             key=str(directory / "cluster.key"))
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    if not _usable(files):
        for path, pem in zip((files.ca, files.cert, files.key), _generate()):
            _write_private(Path(path), pem)
    for path in (files.ca, files.cert, files.key):
        os.chmod(path, 0o600)
    return files


def _usable(files: LocalCredentials) -> bool:
    """True when the three files are there, readable, and the certificate lasts a while yet."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(Path(files.cert).read_bytes())
        x509.load_pem_x509_certificate(Path(files.ca).read_bytes())
        serialization.load_pem_private_key(Path(files.key).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    return left > datetime.timedelta(days=RENEW_DAYS)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a 0600 temporary file, replacing it in one step."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _generate() -> tuple[bytes, bytes, bytes]:
    """A new certificate authority and a certificate it signed, with its key: three PEM texts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "covalent-nb local Dask cluster CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "covalent-nb local Dask cluster")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), cert.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@dataclasses.dataclass(frozen=True)
class ExternalTLS:
    """Credentials for existing Dask clusters behind TLS (``tls://`` scheduler addresses).

    From the config's ``[dask]`` section: ``tls_ca_file`` (the authority that
    signed the cluster's certificates), ``tls_client_cert`` (the certificate
    this server presents) and ``tls_client_key`` (its key; may be left empty
    when the certificate file holds the key too).
    """

    ca_file: str
    cert_file: str
    key_file: str = ""

    @classmethod
    def from_config(cls, ca_file: str, cert_file: str, key_file: str) -> "ExternalTLS | None":
        """The credentials the three settings name (None when none is set); ConfigError when wrong."""
        given = {"dask.tls_ca_file": ca_file, "dask.tls_client_cert": cert_file, "dask.tls_client_key": key_file}
        if not any(given.values()):
            return None
        missing = [name for name in ("dask.tls_ca_file", "dask.tls_client_cert") if not given[name]]
        if missing:
            raise ConfigError(f"{' and '.join(missing)} must be set too: TLS to a Dask scheduler needs the CA "
                              "file that signed its certificates and this server's client certificate "
                              "(dask.tls_client_key: its key, unless the certificate file holds it)")
        paths = {}
        for name, value in given.items():
            if not value:
                continue
            path = Path(str(value)).expanduser()
            if not path.is_file():
                raise ConfigError(f"{name} names no readable file: {str(value)!r}")
            paths[name] = str(path.absolute())
        return cls(paths["dask.tls_ca_file"], paths["dask.tls_client_cert"], paths.get("dask.tls_client_key", ""))

    def security(self) -> Any:
        """A ``distributed.security.Security`` presenting the client certificate, TLS only."""
        from distributed.security import Security

        return Security(require_encryption=True, tls_ca_file=self.ca_file, tls_client_cert=self.cert_file,
                        tls_client_key=self.key_file or None)
