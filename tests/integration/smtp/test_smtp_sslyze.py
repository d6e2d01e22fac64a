"""sslyze's Mozilla "intermediate" check against the real SMTP listeners: STARTTLS on mx
and implicit TLS on submissions, with the default policy (issue 3 asks for STARTTLS
listeners to be checked the same way as implicit ones once the protocols land)."""

from __future__ import annotations

import pytest

from integration.smtp.conftest import SmtpEnv
from integration.tls.test_tls_sslyze import issues, scan

sslyze = pytest.importorskip("sslyze")
from sslyze.mozilla_tls_profile.tls_config_checker import TlsConfigurationEnum  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_starttls_on_mx_is_mozilla_intermediate(env: SmtpEnv) -> None:
    result = scan(env.port("mx"), env.ca, starttls="smtp")
    assert issues(result, TlsConfigurationEnum.MOZILLA_INTERMEDIATE) == {}
    assert "tls_versions" in issues(result, TlsConfigurationEnum.MOZILLA_MODERN)  # the check can tell


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_implicit_tls_on_submissions_is_mozilla_intermediate(env: SmtpEnv) -> None:
    assert issues(scan(env.port("submissions"), env.ca), TlsConfigurationEnum.MOZILLA_INTERMEDIATE) == {}
