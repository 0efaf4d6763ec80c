"""Incidents: alerts grouped for one piece of work, and that work's lifecycle.

    grouping.py      alerts -> incidents by key and window; repeats fold and count
    suppress.py      a tenant's known noise, silenced by rule, host and fields
    lifecycle.py     new -> triaged -> handed_off -> acknowledged -> responding
                     -> resolved -> closed (or closed_false_positive)
    permissions.py   role -> actions, and who acts while a unit owns an incident
    casework.py      assignment, verdicts, tags, comments
    merge.py         merge incidents, move alerts between them
    deadlines.py     acknowledgement and resolution deadlines, breaches
    observables.py   IPs, hosts, accounts, hashes, domains, URLs from events

Pure functions over pydantic models: no store, no clock (``now`` is passed),
no I/O. Every action returns the new state and a Change for the audit trail.
"""

from soc.incidents.casework import CommentOutcome, assign, comment, set_verdict, tag
from soc.incidents.deadlines import Allowance, Breach, DeadlinePolicy, check, schedule
from soc.incidents.errors import IncidentError, InvalidOperation, InvalidTransition, NotAllowed
from soc.incidents.grouping import GroupingPolicy, GroupResult, group
from soc.incidents.lifecycle import (
    TRANSITIONS,
    Accept,
    Close,
    CloseFalsePositive,
    Command,
    HandOffTo,
    Outcome,
    Recall,
    Reject,
    Reopen,
    Resolve,
    StartResponse,
    Triage,
    allowed_actions,
    apply,
)
from soc.incidents.merge import MergeOutcome, MoveOutcome, merge, move_alerts
from soc.incidents.models import (
    Actor,
    AlertRef,
    Change,
    Comment,
    Deadlines,
    HandOff,
    HandOffState,
    Incident,
    IncidentStatus,
    Observable,
    ObservableType,
    Suppression,
    Verdict,
)
from soc.incidents.observables import extract
from soc.incidents.permissions import ROLE_ACTIONS, Action, may
from soc.incidents.suppress import Silencer

__all__ = [
    "ROLE_ACTIONS",
    "TRANSITIONS",
    "Accept",
    "Action",
    "Actor",
    "AlertRef",
    "Allowance",
    "Breach",
    "Change",
    "Close",
    "CloseFalsePositive",
    "Command",
    "Comment",
    "CommentOutcome",
    "DeadlinePolicy",
    "Deadlines",
    "GroupResult",
    "GroupingPolicy",
    "HandOff",
    "HandOffState",
    "HandOffTo",
    "Incident",
    "IncidentError",
    "IncidentStatus",
    "InvalidOperation",
    "InvalidTransition",
    "MergeOutcome",
    "MoveOutcome",
    "NotAllowed",
    "Observable",
    "ObservableType",
    "Outcome",
    "Recall",
    "Reject",
    "Reopen",
    "Resolve",
    "Silencer",
    "StartResponse",
    "Suppression",
    "Triage",
    "Verdict",
    "allowed_actions",
    "apply",
    "assign",
    "check",
    "comment",
    "extract",
    "group",
    "may",
    "merge",
    "move_alerts",
    "schedule",
    "set_verdict",
    "tag",
]
