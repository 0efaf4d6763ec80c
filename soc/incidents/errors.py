"""The incidents domain's errors, under the service's SocError.

    SocError
    └── IncidentError            an incident operation was refused
        ├── NotAllowed           the actor's role or unit may not do this (also an AuthError)
        ├── InvalidTransition    the action does not apply to the incident's status (.allowed)
        └── InvalidOperation     the arguments do not fit: an alert not in the incident,
                                 a merge across tenants, an empty reason

The API maps NotAllowed to 403, InvalidTransition and InvalidOperation to 409
and 422; the messages are written for the analyst who tried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from soc.errors import AuthError, SocError

if TYPE_CHECKING:
    from soc.incidents.models import IncidentStatus
    from soc.incidents.permissions import Action


class IncidentError(SocError):
    """An incident operation was refused; nothing was changed."""


class NotAllowed(IncidentError, AuthError):
    """The actor's role, or unit, may not take this action on this incident."""

    def __init__(self, message: str, *, action: Action) -> None:
        self.action = action
        super().__init__(message)


class InvalidTransition(IncidentError):
    """The action does not apply to an incident in its present status."""

    def __init__(
        self,
        *,
        status: IncidentStatus,
        action: Action,
        allowed: Mapping[Action, IncidentStatus],
    ) -> None:
        self.status = status
        self.action = action
        self.allowed = dict(allowed)
        """The actions that do apply, each with the status it leads to."""
        options = ", ".join(f"{a.value} -> {s.value}" for a, s in self.allowed.items()) or "none"
        super().__init__(
            f"cannot {action.value} an incident that is {status.value}; allowed: {options}"
        )


class InvalidOperation(IncidentError):
    """The operation's arguments do not fit the incidents it names."""
