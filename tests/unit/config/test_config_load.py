"""Loading and validating configuration files: exact messages, all problems at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailward.config import ConfigError, LoadedConfig, ProtocolRules, load
from mailward.config.locate import key_lines
from mailward.config.smtp import SmtpSettings

PROTOCOLS = {
    "line": ProtocolRules(roles=("plain", "other"), starttls=True),
    "mail": ProtocolRules(roles=("mx",), starttls=True, settings="smtp"),
}

LISTENER = """
[[listener]]
name = "one"
protocol = "line"
address = "127.0.0.1:2525"
tls = "starttls"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailward.toml"
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str) -> LoadedConfig:
    return load(write(tmp_path, text), PROTOCOLS)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    prefix = str(tmp_path / "mailward.toml")
    return [str(p).replace(prefix, "FILE") for p in caught.value.problems]


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    config = load_text(tmp_path, "").config
    assert config.data_dir == "/var/lib/mailward"
    assert config.tls.protocols == "+ALL:-SSLv2:-SSLv3:-TLSv1.0:-TLSv1.1"
    assert config.listener == ()


def test_relative_paths(tmp_path: Path) -> None:
    config = load_text(tmp_path, 'data_dir = "var"\n[tls]\ncertificate = "c/s.crt"\n').config
    assert config.data_dir == str(tmp_path / "var")
    assert config.tls.certificate == str(tmp_path / "var" / "c" / "s.crt")
    assert config.tls.key == str(tmp_path / "var" / "certs" / "server.key")


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    assert problems(tmp_path, 'hostname = "a"\nhostnme = "b"\n') == [
        'FILE:2: hostnme: unknown key: did you mean "hostname"?'
    ]


def test_unknown_key_in_section(tmp_path: Path) -> None:
    text = "[limits]\nmax_conections = 5\nmax_connections_per_ip = 2\n"
    assert problems(tmp_path, text) == [
        'FILE:2: limits.max_conections: unknown key: did you mean "max_connections"?'
    ]


def test_unknown_key_without_suggestion(tmp_path: Path) -> None:
    [message] = problems(tmp_path, "[limits]\nzzz = 1\n")
    assert message.startswith("FILE:2: limits.zzz: unknown key: remove it (known keys: max_connections, ")


def test_bad_types(tmp_path: Path) -> None:
    text = 'hostname = 5\nshutdown_grace = "soon"\n[limits]\nidle_timeout = true\n'
    assert problems(tmp_path, text) == [
        "FILE:1: hostname: expected a string, got an integer (5): put the value in double quotes",
        'FILE:2: shutdown_grace: expected a number, got a string ("soon"): write a number, unquoted',
        "FILE:4: limits.idle_timeout: expected a number, got a boolean (true): write a number, unquoted",
    ]


def test_bad_choice(tmp_path: Path) -> None:
    assert problems(tmp_path, 'log_level = "loud"\n') == [
        'FILE:1: log_level: expected one of "trace", "debug", "info", "warning", "error", got a string ("loud"): '
        "use one of those values"
    ]


def test_check_function(tmp_path: Path) -> None:
    assert problems(tmp_path, "[limits]\nmax_connections = 0\n") == [
        "FILE:2: limits.max_connections: must be greater than 0, got 0: use a positive value"
    ]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "nope.toml", PROTOCOLS)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'nope.toml'}: no such file: create it with `mailward init`, or name another with -c FILE"
    ]


def test_syntax_error_names_line(tmp_path: Path) -> None:
    [message] = problems(tmp_path, 'hostname = "a"\n\nlog_level = \n')
    assert message.startswith("FILE:3: TOML syntax error: ")
    assert message.endswith(": correct the syntax on that line")


def test_listener(tmp_path: Path) -> None:
    config = load_text(tmp_path, LISTENER).config
    [listener] = config.listener
    assert (listener.name, listener.protocol, listener.role, listener.tls) == (
        "one",
        "line",
        "plain",
        "starttls",
    )
    assert (listener.bind.host, listener.bind.port) == ("127.0.0.1", 2525)
    assert listener.plaintext_login == "tls-only"


def test_listener_inherits_and_overrides(tmp_path: Path) -> None:
    text = (
        'plaintext_login = "allow"\n[tls]\nverify_client = "optional"\n[limits]\nidle_timeout = 60\n'
        + LISTENER
        + "[listener.limits]\nmax_connections = 7\n"
        + '[listener.tls_options]\ncertificate = "/x.crt"\n'
    )
    [listener] = load_text(tmp_path, text).config.listener
    assert listener.plaintext_login == "allow"
    assert listener.limits.idle_timeout == 60
    assert listener.limits.max_connections == 7
    assert listener.tls_options.verify_client == "optional"
    assert listener.tls_options.certificate == "/x.crt"


MAIL_LISTENER = LISTENER.replace('"line"', '"mail"').replace('"one"', '"m"').replace("2525", "2527")


def test_a_protocols_own_section_reaches_only_its_listeners(tmp_path: Path) -> None:
    text = "[smtp]\nmax_recipients = 5\nmax_errors = 9\n" + LISTENER + MAIL_LISTENER + "[listener.smtp]\nmax_errors = 3\n"
    line, mail = load_text(tmp_path, text).config.listener
    assert line.protocol_settings is None
    assert mail.settings_of(SmtpSettings) == SmtpSettings(max_recipients=5, max_errors=3)
    with pytest.raises(TypeError, match="listener 'one' \\(line\\) has no SmtpSettings"):
        line.settings_of(SmtpSettings)


def test_a_protocols_section_defaults_when_nothing_is_written(tmp_path: Path) -> None:
    [mail] = load_text(tmp_path, MAIL_LISTENER).config.listener
    assert mail.settings_of(SmtpSettings) == SmtpSettings()


def test_another_protocols_table_on_a_listener_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, LISTENER + "[listener.smtp]\nmax_errors = 3\n") == [
        'FILE:7: listener[0].smtp: [listener.smtp] is for listeners of protocol "mail", not "line": '
        "remove the table, or move it to such a listener"
    ]


def test_a_protocols_section_problems_name_where_written(tmp_path: Path) -> None:
    text = "[smtp]\nmax_errors = -1\n" + MAIL_LISTENER + "[listener.smtp]\nmax_recipients = 0\nzz = 1\n"
    assert problems(tmp_path, text) == [
        "FILE:2: smtp.max_errors: must be at least 1, got -1: use 20",
        'FILE:11: listener[0].smtp.zz: unknown key: remove it (known keys: max_message_size, '
        "max_recipients, max_errors, max_junk_commands)",
        "FILE:10: listener[0].smtp.max_recipients: must be at least 1, got 0: use 100",
    ]


def test_inherited_error_reported_once_where_written(tmp_path: Path) -> None:
    text = (
        "[limits]\nidle_timeout = -1\n"
        + LISTENER
        + LISTENER.replace('"one"', '"two"').replace("2525", "2526")
    )
    assert problems(tmp_path, text) == [
        "FILE:2: limits.idle_timeout: must be greater than 0, got -1.0: use a positive value"
    ]


def test_listener_override_error_names_listener(tmp_path: Path) -> None:
    text = (
        LISTENER + LISTENER.replace('"one"', '"two"').replace("2525", "2526") + "[listener.limits]\nzzz = 1\n"
    )
    [message] = problems(tmp_path, text)
    assert message.startswith("FILE:14: listener[1].limits.zzz: unknown key")


def test_listener_required_keys(tmp_path: Path) -> None:
    assert problems(tmp_path, '[[listener]]\nname = "x"\n') == [
        'FILE:1: listener[0].protocol: missing: add protocol = "smtp"',
        'FILE:1: listener[0].address: missing: add address = "0.0.0.0:587"',
        'FILE:1: listener[0].tls: missing: add tls = "starttls-required"',
    ]


def test_unknown_protocol_and_role(tmp_path: Path) -> None:
    text = LISTENER.replace('"line"', '"gopher"') + LISTENER.replace('"one"', '"two"').replace(
        "2525", "2526"
    ).replace('tls = "starttls"', 'tls = "starttls"\nrole = "boss"')
    assert problems(tmp_path, text) == [
        'FILE:4: listener[0].protocol: unknown protocol "gopher": this build serves: "line", "mail"',
        'FILE:13: listener[1].role: line has no role "boss": use one of "plain", "other"',
    ]


def test_bad_addresses(tmp_path: Path) -> None:
    cases = {
        "1.2.3.4": '"1.2.3.4" has no port',
        "1.2.3.4:70000": '"1.2.3.4:70000": port 70000 is out of range 0-65535',
        "mail.example:25": '"mail.example:25": mail.example is not an IP address',
        "::1:25": '"::1:25": put an IPv6 address in brackets: write "[::1]:25"',
    }
    for address, expected in cases.items():
        [message] = problems(tmp_path, LISTENER.replace("127.0.0.1:2525", address))
        assert message.startswith(f"FILE:5: listener[0].address: {expected}"), message


def test_duplicate_name_and_overlapping_address(tmp_path: Path) -> None:
    text = LISTENER + LISTENER + LISTENER.replace('"one"', '"three"').replace("127.0.0.1", "0.0.0.0")
    assert problems(tmp_path, text) == [
        'FILE:9: listener[1].name: "one" is also the name of listener[0]: give every listener its own name',
        'FILE:17: listener[2].address: 0.0.0.0:2525 overlaps listener[0] ("one", 127.0.0.1:2525): '
        "give each listener its own port",
    ]


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = 'hostnme = "x"\nlog_level = 3\n[limits]\nmax_connections = -2\n' + LISTENER.replace(
        '"starttls"', '"sometimes"'
    )
    assert len(problems(tmp_path, text)) == 4


def test_key_lines_follow_arrays_of_tables() -> None:
    text = (
        'a = 1\n[[listener]]\nname = "x"\n[listener.limits]\nm = 1\n'
        '[[listener]]\nname = "y"\n[listener.tls_options]\n"ca" = "z"\n[tls]\nkey.sub = 2\n'
    )
    assert key_lines(text) == {
        "a": 1,
        "listener[0]": 2,
        "listener[0].name": 3,
        "listener[0].limits": 4,
        "listener[0].limits.m": 5,
        "listener[1]": 6,
        "listener[1].name": 7,
        "listener[1].tls_options": 8,
        "listener[1].tls_options.ca": 9,
        "tls": 10,
        "tls.key.sub": 11,
    }


def test_workers(tmp_path: Path) -> None:
    assert problems(tmp_path, "workers = 65\n") == [
        "FILE:1: workers: must be between 0 and 64, got 65: use 0 (one per CPU core) or the number "
        "of processes you want"
    ]
    assert problems(tmp_path, "workers = -1\n")[0].startswith("FILE:1: workers: must be between 0 and 64")
    assert load_text(tmp_path, "workers = 3\n").config.worker_count == 3
    cores = len(os.sched_getaffinity(0))
    assert load_text(tmp_path, "workers = 0\n").config.worker_count == min(cores, 64)
