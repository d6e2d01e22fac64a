"""Start-up checks: files, keys, chains, validity, names, modes, DH parameters."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh

from mailward.config.problems import Problem, Severity
from mailward.config.tls import SniCertificate, TlsSettings
from mailward.tls import certs
from mailward.tls.checks import check_tls
from mailward.tls.context import build_server_context
from mailward.tls.native_probe import NativeFeatures
from support.pki import Issued, TestCA


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki")


@pytest.fixture
def good(ca: TestCA) -> Issued:
    return ca.issue("server", ("mail.example.org", "localhost"), days=365)


def settings(issued: Issued, **kw: object) -> TlsSettings:
    values: dict[str, object] = {"certificate": str(issued.cert_path), "key": str(issued.key_path), **kw}
    return TlsSettings(**values)  # type: ignore[arg-type]


def only(problems: list[Problem], severity: Severity = Severity.ERROR) -> list[Problem]:
    return [p for p in problems if p.severity is severity]


def test_good_material_has_no_problem(good: Issued) -> None:
    assert check_tls(settings(good), "tls", "mail.example.org") == []


def test_missing_files(tmp_path: Path) -> None:
    s = TlsSettings(certificate=str(tmp_path / "no.crt"), key=str(tmp_path / "no.key"))
    problems = check_tls(s, "listener[1].tls_options", "")
    assert [p.key for p in problems] == ["listener[1].tls_options.certificate", "listener[1].tls_options.key"]
    assert all("does not exist" in p.message and "mailward cert create" in p.fix for p in problems)


def test_not_pem(good: Issued, tmp_path: Path) -> None:
    bad = tmp_path / "bad.crt"
    bad.write_text("hello\n")
    problems = check_tls(settings(good, certificate=str(bad)), "tls", "")
    assert problems[0].key == "tls.certificate" and "no PEM certificate" in problems[0].message


def test_key_readable_by_others_is_an_error_with_the_chmod(good: Issued) -> None:
    os.chmod(good.key_path, 0o640)
    problems = check_tls(settings(good), "tls", "mail.example.org")
    assert len(problems) == 1
    assert problems[0].key == "tls.key"
    assert "readable to group or others (mode 0640)" in problems[0].message
    assert problems[0].fix == f"chmod 600 {good.key_path}"


def test_key_of_another_certificate(ca: TestCA, good: Issued) -> None:
    other = ca.issue("other", ("mail.example.org",))
    problems = check_tls(settings(good, key=str(other.key_path)), "tls", "")
    assert [p.key for p in problems] == ["tls.key"]
    assert "is not the key of" in problems[0].message


def test_chain_order(ca: TestCA, good: Issued, tmp_path: Path) -> None:
    right = tmp_path / "right.crt"
    right.write_bytes(good.cert_path.read_bytes() + ca.cert_path.read_bytes())
    assert check_tls(settings(good, certificate=str(right)), "tls", "mail.example.org") == []
    wrong = tmp_path / "wrong.crt"
    wrong.write_bytes(ca.cert_path.read_bytes() + good.cert_path.read_bytes())
    problems = check_tls(settings(good, certificate=str(wrong)), "tls", "mail.example.org")
    keys = {p.key for p in only(problems)}
    assert keys == {"tls.key", "tls.certificate"}  # the leaf is now the CA: key mismatch, and the order
    assert any("leaf first" in p.fix for p in problems)


def test_expired_is_an_error(ca: TestCA) -> None:
    old = ca.issue("old", ("localhost",), days=10, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=20))
    problems = check_tls(settings(old), "tls", "localhost")
    assert len(problems) == 1 and problems[0].severity is Severity.ERROR
    assert "expired" in problems[0].message and "mailward cert renew" in problems[0].fix


def test_not_yet_valid_is_an_error(ca: TestCA) -> None:
    later = ca.issue("later", ("localhost",), not_before=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    problems = check_tls(settings(later), "tls", "localhost")
    assert "not valid until" in problems[0].message and problems[0].severity is Severity.ERROR


def test_expiring_within_30_days_warns(ca: TestCA) -> None:
    soon = ca.issue("soon", ("localhost",), days=20)
    problems = check_tls(settings(soon), "tls", "localhost")
    assert len(problems) == 1 and problems[0].severity is Severity.WARNING
    assert "expires in" in problems[0].message


def test_hostname_not_among_the_names_warns(good: Issued) -> None:
    problems = check_tls(settings(good), "tls", "smtp.example.com")
    assert len(problems) == 1 and problems[0].severity is Severity.WARNING
    assert "smtp.example.com is not among the names" in problems[0].message
    assert "--domain smtp.example.com" in problems[0].fix


def test_wildcard_names_match_one_label(ca: TestCA) -> None:
    wild = ca.issue("wild", ("*.example.org",), days=365)
    assert check_tls(settings(wild), "tls", "mail.example.org") == []
    assert only(check_tls(settings(wild), "tls", "a.b.example.org"), Severity.WARNING)


def test_client_ca_needed_for_verification(good: Issued, ca: TestCA) -> None:
    problems = check_tls(settings(good, verify_client="ca"), "tls", "mail.example.org")
    assert [p.key for p in problems] == ["tls.ca"]
    assert (
        check_tls(settings(good, verify_client="ca", ca=str(ca.cert_path)), "tls", "mail.example.org") == []
    )
    problems = check_tls(
        settings(good, verify_client="optional", ca=str(good.cert_path)), "tls", "mail.example.org"
    )
    assert problems[0].severity is Severity.WARNING and "not a CA" in problems[0].message


def small_dhparams(path: Path, bits: int = 512) -> Path:
    params = dh.generate_parameters(generator=2, key_size=bits)
    path.write_bytes(params.parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3))
    return path


def test_dhparams_under_2048_bits_are_refused(good_rsa: Issued, tmp_path: Path) -> None:
    good = good_rsa  # DHE-RSA: an RSA certificate, or dhe warns that it has no effect
    weak = small_dhparams(tmp_path / "dh512.pem")
    problems = check_tls(settings(good, dhe=True, dhparams=str(weak)), "tls", "mail.example.org")
    assert [p.key for p in problems] == ["tls.dhparams"]
    assert "512-bit" in problems[0].message and "mailward cert dhparams" in problems[0].fix
    ok = tmp_path / "ffdhe2048.pem"
    ok.write_bytes(certs.FFDHE2048_PEM)
    assert check_tls(settings(good, dhe=True, dhparams=str(ok)), "tls", "mail.example.org") == []
    problems = check_tls(settings(good, dhparams=str(ok)), "tls", "mail.example.org")
    assert problems[0].severity is Severity.WARNING and "dhe = false" in problems[0].message


def test_policy_problems_are_included(good: Issued) -> None:
    problems = check_tls(settings(good, protocols="+SSLv3"), "listener[0].tls_options", "mail.example.org")
    assert problems[0].key == "listener[0].tls_options.protocols"


def encrypt_key(issued: Issued, password: bytes) -> None:
    data = issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    issued.key_path.write_bytes(data)


def test_encrypted_key_needs_a_passphrase(good: Issued) -> None:
    encrypt_key(good, b"s3cret")
    problems = check_tls(settings(good), "tls", "mail.example.org")
    assert problems[0].key == "tls.key" and "encrypted" in problems[0].message
    assert "key_passphrase" in problems[0].fix
    # a secret reference without the secrets module: said plainly
    problems = check_tls(settings(good, key_passphrase="secret:tlskey"), "tls", "mail.example.org")
    assert problems[0].key == "tls.key_passphrase"


def test_encrypted_key_with_a_resolved_secret(good: Issued) -> None:
    encrypt_key(good, b"s3cret")
    seen: list[str] = []

    def resolve(ref: str) -> str:
        seen.append(ref)
        return "s3cret"

    s = settings(good, key_passphrase="secret:tlskey")
    assert check_tls(s, "tls", "mail.example.org", resolve_secret=resolve) == []
    ctx, problems = build_server_context(s, hostname="mail.example.org", resolve_secret=resolve)
    assert ctx is not None and problems == []
    assert set(seen) == {"secret:tlskey"}
    ctx, problems = build_server_context(s, resolve_secret=lambda _ref: "wrong")
    assert ctx is None and problems[0].key == "tls.key"


def test_sni_entries_are_checked_under_their_own_keys(good: Issued, ca: TestCA, tmp_path: Path) -> None:
    net = ca.issue("net", ("mail.example.net",), days=365)
    sni = (
        SniCertificate(names=("mail.example.net",), certificate=str(net.cert_path), key=str(net.key_path)),
        SniCertificate(
            names=("x.example.com",), certificate=str(tmp_path / "none.crt"), key=str(net.key_path)
        ),
    )
    problems = check_tls(settings(good, sni=sni), "tls", "mail.example.org")
    keys = [(p.key, p.severity) for p in problems]
    assert ("tls.sni[1].certificate", Severity.ERROR) in keys
    assert all(not k.startswith("tls.sni[0]") for k, _ in keys)


def test_sni_name_not_on_its_certificate_warns(good: Issued, ca: TestCA) -> None:
    net = ca.issue("net", ("mail.example.net",), days=365)
    sni = (
        SniCertificate(names=("other.example.net",), certificate=str(net.cert_path), key=str(net.key_path)),
    )
    problems = check_tls(settings(good, sni=sni), "tls", "mail.example.org")
    assert [(p.key, p.severity) for p in problems] == [("tls.sni[0].names", Severity.WARNING)]


def test_without_the_native_calls_only_what_the_stdlib_can_do_builds(
    good: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailward.tls import native_probe

    missing = NativeFeatures({"tls13-ciphersuites": "the probe crashed", "groups": "the probe crashed"})
    monkeypatch.setattr(native_probe, "_CACHE", native_probe.FeatureCache(lambda: missing))
    # the default groups (Mozilla's X25519, P-256, P-384) are refused, not cut down to one curve
    ctx, problems = build_server_context(settings(good), hostname="mail.example.org")
    assert ctx is None
    assert [(p.key, p.severity) for p in problems] == [("tls.curves", Severity.ERROR)]
    assert "the probe crashed" in problems[0].message
    assert 'set curves = "prime256v1"' in problems[0].fix
    # one NIST curve the stdlib sets itself, and OpenSSL's own TLS 1.3 suites: served as asked
    ctx, problems = build_server_context(settings(good, curves="prime256v1"), hostname="mail.example.org")
    assert ctx is not None and problems == []
    # TLS 1.3 suites other than OpenSSL's defaults cannot be honoured: an error, not a silent change
    ctx, problems = build_server_context(settings(good, curves="prime256v1", ciphersuites="TLS_AES_256_GCM_SHA384"))
    assert ctx is None and [p.key for p in problems] == ["tls.ciphersuites"]
    assert "leave ciphersuites empty" in problems[0].fix
    ctx, problems = build_server_context(settings(good, curves="X25519"))
    assert ctx is None and problems[-1].key == "tls.curves"


def test_a_missing_native_feature_is_an_error_with_its_hint(good: Issued) -> None:
    missing = NativeFeatures({"groups": "the probe crashed: killed by SIGSEGV",
                              "tls13-ciphersuites": "the probe crashed: killed by SIGSEGV"})
    problems = check_tls(settings(good, profile="modern", ciphersuites="TLS_CHACHA20_POLY1305_SHA256"),
                         "listener[1].tls_options", "mail.example.org", native_features=missing)
    assert [str(p) for p in problems] == [
        "listener[1].tls_options.ciphersuites: TLS_CHACHA20_POLY1305_SHA256 cannot be applied: setting TLS 1.3 "
        "suites needs SSL_CTX_set_ciphersuites (ssl has no set_ciphersuites), and the probe crashed: killed by "
        "SIGSEGV: leave ciphersuites empty (OpenSSL's own TLS 1.3 suites, "
        "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256, are the ones mailward asks "
        "for by default), or run mailward on CPython 3.11 to 3.13 with the shared libssl its _ssl module links "
        "(`mailward config check` prints which native OpenSSL features work)",
        'listener[1].tls_options.curves: "X25519:prime256v1:secp384r1" (the default: the groups of Mozilla\'s '
        "profiles) cannot be applied: a list of groups (or X25519) needs SSL_CTX_set1_groups_list (ssl sets one "
        "NIST curve only), and the probe crashed: killed by SIGSEGV: set curves = \"prime256v1\" (one curve, "
        "which ssl can set itself), or run mailward on CPython 3.11 to 3.13 with the shared libssl its _ssl "
        "module links (`mailward config check` prints which native OpenSSL features work)",
    ]
    # what the probe found working needs nothing more
    assert check_tls(settings(good, ciphersuites="TLS_CHACHA20_POLY1305_SHA256"), "tls", "mail.example.org",
                     native_features=NativeFeatures()) == []
    # TLS 1.2 only: no TLS 1.3 suites to set
    tls12 = settings(good, protocols="+TLSv1.2", curves="secp384r1", ciphersuites="TLS_CHACHA20_POLY1305_SHA256")
    assert check_tls(tls12, "tls", "mail.example.org", native_features=missing) == []


def test_a_failing_secret_resolver_is_a_problem(good: Issued) -> None:
    encrypt_key(good, b"s3cret")

    class SecretMissing(Exception):
        pass

    def resolve(ref: str) -> str:
        raise SecretMissing(
            f'secret "{ref[7:]}" is not in the store', "add it with `mailward secret set tlskey`"
        )

    problems = check_tls(settings(good, key_passphrase="secret:tlskey"), "tls", "", resolve_secret=resolve)
    assert [(p.key, p.fix) for p in problems] == [
        ("tls.key_passphrase", "add it with `mailward secret set tlskey`")
    ]
    assert 'secret "tlskey" is not in the store' in problems[0].message


# --- an RSA certificate beside the ECDSA one ---------------------------------------------


@pytest.fixture
def good_rsa(ca: TestCA) -> Issued:
    return ca.issue("server-rsa", ("mail.example.org", "localhost"), key_type="rsa-2048", days=365)


def with_rsa(issued: Issued, rsa_pair: Issued, **kw: object) -> TlsSettings:
    return settings(issued, rsa_certificate=str(rsa_pair.cert_path), rsa_key=str(rsa_pair.key_path), **kw)


def test_rsa_pair_beside_ecdsa_builds_one_context(good: Issued, good_rsa: Issued) -> None:
    s = with_rsa(good, good_rsa, dhe=True)
    assert check_tls(s, "tls", "mail.example.org") == []
    ctx, problems = build_server_context(s, hostname="mail.example.org")
    assert ctx is not None and problems == []


def test_rsa_pair_missing_files_and_half_pairs(good: Issued, good_rsa: Issued, tmp_path: Path) -> None:
    missing = settings(good, rsa_certificate=str(tmp_path / "no.crt"), rsa_key=str(tmp_path / "no.key"))
    problems = check_tls(missing, "listener[0].tls_options", "")
    assert [p.key for p in problems] == [
        "listener[0].tls_options.rsa_certificate",
        "listener[0].tls_options.rsa_key",
    ]
    assert all(str(tmp_path) in p.message and "does not exist" in p.message for p in problems)
    half = settings(good, rsa_certificate=str(good_rsa.cert_path))
    [problem] = check_tls(half, "tls", "mail.example.org")
    assert (problem.key, problem.message) == ("tls.rsa_key", "no key file given")


def test_rsa_key_of_another_certificate(good: Issued, good_rsa: Issued, ca: TestCA) -> None:
    other = ca.issue("other-rsa", ("mail.example.org",), key_type="rsa-2048", days=365)
    s = settings(good, rsa_certificate=str(good_rsa.cert_path), rsa_key=str(other.key_path))
    [problem] = check_tls(s, "tls", "mail.example.org")
    assert problem.key == "tls.rsa_key" and f"{other.key_path} is not the key of" in problem.message
    ctx, _ = build_server_context(s)
    assert ctx is None


def test_rsa_certificate_must_be_rsa_and_certificate_not(good: Issued, good_rsa: Issued, ca: TestCA) -> None:
    second_ecdsa = ca.issue("ecdsa2", ("mail.example.org",), days=365)
    [problem] = check_tls(with_rsa(good, second_ecdsa), "tls", "mail.example.org")
    assert problem.key == "tls.rsa_certificate" and problem.severity is Severity.ERROR
    assert problem.message == f"{second_ecdsa.cert_path} holds an ECDSA secp256r1 key, not RSA"
    assert "--key-type rsa-2048" in problem.fix

    other_rsa = ca.issue("rsa2", ("mail.example.org",), key_type="rsa-2048", days=365)
    [problem] = check_tls(with_rsa(other_rsa, good_rsa), "tls", "mail.example.org")
    assert problem.key == "tls.rsa_certificate" and "both hold RSA keys" in problem.message
    assert "put an ECDSA certificate in tls.certificate" in problem.fix
    ctx, problems = build_server_context(with_rsa(other_rsa, good_rsa))
    assert ctx is None and problems == [problem]


def test_dhe_without_an_rsa_certificate_warns(good: Issued, good_rsa: Issued, ca: TestCA) -> None:
    [warning] = check_tls(settings(good, dhe=True), "tls", "mail.example.org")
    assert (warning.key, warning.severity) == ("tls.dhe", Severity.WARNING)
    assert warning.message.startswith("dhe = true has no effect: DHE-RSA suites need an RSA certificate")
    # an RSA default certificate (as before this setting existed), or one beside: no warning
    assert check_tls(settings(good_rsa, dhe=True), "tls", "mail.example.org") == []
    assert check_tls(with_rsa(good, good_rsa, dhe=True), "tls", "mail.example.org") == []
    # TLS 1.3 only: no DHE-RSA suite either way, nothing to say about it
    assert check_tls(settings(good, dhe=True, profile="modern"), "tls", "mail.example.org") == []
    # per SNI entry: its clients get its certificates
    net = ca.issue("net", ("mail.example.net",), days=365)
    sni = (SniCertificate(names=("mail.example.net",), certificate=str(net.cert_path), key=str(net.key_path)),)
    [warning] = check_tls(with_rsa(good, good_rsa, dhe=True, sni=sni), "tls", "mail.example.org")
    assert warning.key == "tls.dhe" and "no effect for mail.example.net" in warning.message
    assert "add rsa_certificate and rsa_key to tls.sni[0]" in warning.fix


def test_sni_entry_with_an_rsa_pair(good: Issued, ca: TestCA, tmp_path: Path) -> None:
    net = ca.issue("net", ("mail.example.net",), days=365)
    net_rsa = ca.issue("net-rsa", ("mail.example.net",), key_type="rsa-2048", days=365)
    entry = SniCertificate(
        names=("mail.example.net",),
        certificate=str(net.cert_path),
        key=str(net.key_path),
        rsa_certificate=str(net_rsa.cert_path),
        rsa_key=str(tmp_path / "none.key"),
    )
    [problem] = check_tls(settings(good, sni=(entry,)), "tls", "mail.example.org")
    assert problem.key == "tls.sni[0].rsa_key" and "does not exist" in problem.message


def test_encrypted_rsa_key_has_a_passphrase_of_its_own(good: Issued, good_rsa: Issued) -> None:
    encrypt_key(good_rsa, b"rsa-pass")
    s = with_rsa(good, good_rsa)
    [problem] = check_tls(s, "tls", "mail.example.org")
    assert problem.key == "tls.rsa_key" and problem.fix == 'set tls.rsa_key_passphrase = "secret:NAME"'
    s = with_rsa(good, good_rsa, rsa_key_passphrase="secret:rsakey")
    secrets = {"secret:rsakey": "rsa-pass"}
    assert check_tls(s, "tls", "mail.example.org", resolve_secret=secrets.__getitem__) == []
    ctx, problems = build_server_context(s, resolve_secret=secrets.__getitem__)
    assert ctx is not None and problems == []
