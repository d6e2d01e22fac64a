"""sslyze's Mozilla TLS configuration checks against the real listener (one scan per profile).

The certificate comes from a test CA that sslyze is given as its custom CA
file. Items about trust in the public PKI cannot pass on a test CA and are the
only ones allowed to fail; versions, ciphers, curves, DH sizes and the TLS
vulnerability checks must all pass.
"""

from __future__ import annotations

import pytest

from integration.tls.conftest import ServerFactory
from support.pki import TestCA

sslyze = pytest.importorskip("sslyze")
from sslyze.mozilla_tls_profile.tls_config_checker import (  # noqa: E402
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

# sslyze's bundled public trust stores hold a root with a non-positive serial number,
# which cryptography warns about while sslyze loads them: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
# only what depends on a certificate from a CA the world trusts
TRUST_ITEMS = {"certificate_path_validation"}


def scan(port: int, ca: TestCA, starttls: str | None = None) -> object:
    """sslyze's scan of 127.0.0.1:``port``; ``starttls``: "smtp", "imap" or "pop3" first."""
    opportunistic = None
    if starttls is not None:
        from sslyze.connection_helpers.opportunistic_tls_helpers import ProtocolWithOpportunisticTlsEnum

        opportunistic = ProtocolWithOpportunisticTlsEnum[starttls.upper()]
    request = sslyze.ServerScanRequest(
        server_location=sslyze.ServerNetworkLocation(hostname="localhost", port=port, ip_address="127.0.0.1"),
        network_configuration=sslyze.ServerNetworkConfiguration(
            tls_server_name_indication="localhost", tls_opportunistic_encryption=opportunistic,
        ),
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        scan_commands_extra_arguments=sslyze.ScanCommandsExtraArguments(
            certificate_info=sslyze.CertificateInfoExtraArgument(custom_ca_file=ca.cert_path)
        ),
    )
    scanner = sslyze.Scanner()
    scanner.queue_scans([request])
    results = list(scanner.get_results())
    assert len(results) == 1
    result = results[0]
    assert result.connectivity_status == sslyze.ServerConnectivityStatusEnum.COMPLETED, (
        result.connectivity_error_trace
    )
    return result


def issues(result: object, profile: TlsConfigurationEnum) -> dict[str, str]:
    try:
        check_server_against_tls_configuration(result, MozillaTlsConfiguration.get(profile))  # type: ignore[arg-type]
    except ServerNotCompliantWithTlsConfiguration as exc:
        return {k: v for k, v in exc.issues.items() if k not in TRUST_ITEMS}
    return {}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_default_policy_is_mozilla_intermediate(tls_server: ServerFactory, ca: TestCA) -> None:
    cert = ca.issue("server", ("localhost", "127.0.0.1"), days=365)
    server = tls_server(cert)
    result = scan(server.port, ca)
    assert issues(result, TlsConfigurationEnum.MOZILLA_INTERMEDIATE) == {}
    # and the default is not "modern" (it offers TLS 1.2): the check can tell them apart
    assert "tls_versions" in issues(result, TlsConfigurationEnum.MOZILLA_MODERN)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_intermediate_with_dhe_and_rsa(tls_server: ServerFactory, ca: TestCA) -> None:
    cert = ca.issue("server", ("localhost", "127.0.0.1"), days=365, key_type="rsa-2048")
    server = tls_server(cert, dhe=True)
    assert issues(scan(server.port, ca), TlsConfigurationEnum.MOZILLA_INTERMEDIATE) == {}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_modern_profile_is_mozilla_modern(tls_server: ServerFactory, ca: TestCA) -> None:
    cert = ca.issue("server", ("localhost", "127.0.0.1"), days=60)  # modern: at most 90 days
    server = tls_server(cert, profile="modern")
    assert issues(scan(server.port, ca), TlsConfigurationEnum.MOZILLA_MODERN) == {}
