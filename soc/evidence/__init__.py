"""Evidence bundles: files with a manifest of SHA-256 hashes, verifiable offline."""

from soc.evidence.bundle import BundleReport, Manifest, verify_bundle, write_bundle

__all__ = ["BundleReport", "Manifest", "verify_bundle", "write_bundle"]
