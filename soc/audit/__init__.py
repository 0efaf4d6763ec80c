"""The audit trail: every action, chained by SHA-256 so that a removed or altered entry shows."""

from soc.audit.chain import GENESIS, AuditEntry, ChainReport, seal, verify

__all__ = ["GENESIS", "AuditEntry", "ChainReport", "seal", "verify"]
