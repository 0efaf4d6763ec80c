"""The audit trail: every action, chained by SHA-256 so that a removed or altered entry shows.

chain.py   the chain itself: sealing and verifying entries (pure)
trail.py   the chain kept in the store, one case record per entry (AuditTrail)
retention.py  the chain's start cut behind a checkpoint once its period is over
"""

from soc.audit.chain import (
    GENESIS,
    RETENTION_ACTION,
    AuditEntry,
    ChainReport,
    Cut,
    seal,
    verify,
)

__all__ = ["GENESIS", "RETENTION_ACTION", "AuditEntry", "ChainReport", "Cut", "seal", "verify"]
