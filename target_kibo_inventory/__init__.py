"""Singer target that loads stock counts into Kibo OMS inventory jobs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("target-kibo-inventory")
    """The installed version: set in one place, pyproject.toml (`--about` and the User-Agent
    read the same package metadata)."""
except PackageNotFoundError:  # pragma: no cover - imported from a source tree, not installed
    __version__ = "0+unknown"
