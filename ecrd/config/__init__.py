"""The configuration: its model and its loader."""

from ecrd.config.load import default_config_path, load_config
from ecrd.config.model import Config, Group, GroupKey, OutputSpec, RefreshPolicy, Registry

__all__ = [
    "Config",
    "Group",
    "GroupKey",
    "OutputSpec",
    "RefreshPolicy",
    "Registry",
    "default_config_path",
    "load_config",
]
