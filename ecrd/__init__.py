"""ecrd keeps Amazon ECR registry credentials fresh on a machine."""

# The one place the version is written: hatchling reads it for the package's metadata,
# and `ecrd --version` prints it without importing importlib.metadata.
# docker-credential-ecrd imports this package on every image pull: keep it this cheap.
__version__ = "0.1.0"
