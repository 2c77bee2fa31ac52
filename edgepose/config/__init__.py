"""Configuration: a YAML file validated against typed sections."""

from edgepose.config.load import load_config, redacted
from edgepose.config.sections import Config

__all__ = ["Config", "load_config", "redacted"]
