"""ecrd keeps Amazon ECR registry credentials fresh on a machine."""

from importlib.metadata import version

__version__ = version("ecrd")
