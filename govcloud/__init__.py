"""govcloud: the operator's control plane and ops console for a province's government cloud."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("govcloud")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
