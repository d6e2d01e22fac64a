"""The partial configuration a ConfigError carries, for the checks that follow validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailward.config import ConfigError, LoadedConfig, ProtocolRules, load

PROTOCOLS = {"line": ProtocolRules(roles=("plain",), starttls=True)}


def partial(tmp_path: Path, text: str) -> LoadedConfig:
    path = tmp_path / "mailward.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path, PROTOCOLS)
    assert caught.value.partial is not None
    return caught.value.partial


def listener(name: str, port: int, tls: str = "none", extra: str = "") -> str:
    return (f'[[listener]]\nname = "{name}"\nprotocol = "line"\naddress = "127.0.0.1:{port}"\n'
            f'tls = "{tls}"\n{extra}')


def test_failed_settings_stand_at_their_defaults_and_the_rest_keep_their_values(tmp_path: Path) -> None:
    loaded = partial(tmp_path, 'hostname = "mx.example.org"\nworkers = "many"\n[tls]\nprotocols = 5\n'
                     'dhe = true\n')
    assert loaded.config.hostname == "mx.example.org"
    assert loaded.config.workers == 0  # the default
    assert loaded.config.tls.dhe is True  # beside a setting of the same section that failed
    assert loaded.failed == {"workers", "tls.protocols"}


def test_listeners_that_validated_keep_their_index_in_the_file(tmp_path: Path) -> None:
    text = (listener("a", 2001) + listener("b", 2002, tls="bogus")
            + listener("c", 2003, extra="[listener.limits]\nmax_connections = -1\n"))
    loaded = partial(tmp_path, text)
    # b's own mode failed: it is left out; c only has a bad limit: it is checked (its port)
    assert [(i, lst.name) for i, lst in loaded.config.numbered_listeners()] == [(0, "a"), (2, "c")]
    assert loaded.failed == {"listener[1].tls", "listener[2].limits.max_connections"}


def test_a_valid_file_numbers_its_listeners_in_order(tmp_path: Path) -> None:
    path = tmp_path / "mailward.toml"
    path.write_text(listener("a", 2001) + listener("b", 2002))
    config = load(path, PROTOCOLS).config
    assert config.listener_index == ()
    assert [i for i, _ in config.numbered_listeners()] == [0, 1]


def test_a_syntax_error_leaves_nothing_to_check(tmp_path: Path) -> None:
    path = tmp_path / "mailward.toml"
    path.write_text("hostname = \n")
    with pytest.raises(ConfigError) as caught:
        load(path, PROTOCOLS)
    assert caught.value.partial is None
