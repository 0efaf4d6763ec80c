"""Amazon S3 and S3-compatible storage; see connectors.sources.s3.source."""

from connectors.sources.s3.source import S3Source, _inflate

__all__ = ["S3Source", "_inflate"]
