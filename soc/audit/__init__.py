"""The audit trail: every action, chained by SHA-256 so that a removed or altered entry shows.

chain.py   the chain itself: sealing and verifying entries (pure)
trail.py   the chain kept in the store, one case record per entry (AuditTrail)
"""

from soc.audit.chain import GENESIS, AuditEntry, ChainReport, seal, verify

__all__ = ["GENESIS", "AuditEntry", "ChainReport", "seal", "verify"]
