"""Configuration: typed models, loading, validation with file:line errors."""

from mailward.config.load import LoadedConfig, load
from mailward.config.model import Address, Config, ListenerSettings, ProtocolRules
from mailward.config.problems import ConfigError, Problem, Severity

__all__ = [
    "Address",
    "Config",
    "ConfigError",
    "ListenerSettings",
    "LoadedConfig",
    "Problem",
    "ProtocolRules",
    "Severity",
    "load",
]
