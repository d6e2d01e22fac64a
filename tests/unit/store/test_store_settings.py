"""The [store] section: building from TOML data and the cross-field checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mailward.config.problems import Problem, Severity
from mailward.config.schema import BuildContext, build
from mailward.config.store import PostgresSettings, StoreSettings, check_store


def test_defaults_are_embedded_and_verify_full() -> None:
    settings = StoreSettings()
    assert settings.backend == "sqlite"
    assert settings.postgres.sslmode == "verify-full"
    assert check_store(settings) == []


def test_build_from_toml_data(tmp_path: Path) -> None:
    problems: list[Problem] = []
    data = {"backend": "postgres", "postgres": {"host": "db.example.org", "password": "secret:db",
                                                "sslrootcert": "ca.pem", "port": 6432}}
    built = build(StoreSettings, data, "store", BuildContext(tmp_path), problems)
    assert problems == [] and built is not None
    assert built.postgres.sslrootcert == str(tmp_path / "ca.pem")
    assert built.postgres.port == 6432


def test_unknown_and_bad_values_are_reported(tmp_path: Path) -> None:
    problems: list[Problem] = []
    data = {"backend": "mysql", "postgres": {"sslmod": "require", "port": 70000}}
    assert build(StoreSettings, data, "store", BuildContext(tmp_path), problems) is None
    keys = sorted(p.key for p in problems)
    assert keys == ["store.backend", "store.postgres.port", "store.postgres.sslmod"]


def test_weak_sslmode_is_an_error_unless_allowed() -> None:
    weak = StoreSettings("postgres", PostgresSettings(sslmode="require"))
    (problem,) = check_store(weak)
    assert problem.key == "store.postgres.sslmode" and problem.severity is Severity.ERROR
    allowed = replace(weak, postgres=replace(weak.postgres, allow_insecure_sslmode=True))
    assert [p.severity for p in check_store(allowed)] == [Severity.WARNING]
    local = replace(weak, postgres=replace(weak.postgres, host="/run/postgresql"))
    assert check_store(local) == []  # a unix socket never leaves the machine


def test_pool_and_client_certificate_consistency() -> None:
    pg = PostgresSettings(pool_min=5, pool_max=2, sslcert="client.crt")
    keys = {p.key for p in check_store(StoreSettings("postgres", pg))}
    assert keys == {"store.postgres.pool_min", "store.postgres.sslcert"}
