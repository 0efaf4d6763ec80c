"""Follow growing log files; see connectors.sources.file_tail.source."""

from connectors.sources.file_tail.source import FileTailSource

__all__ = ["FileTailSource"]
