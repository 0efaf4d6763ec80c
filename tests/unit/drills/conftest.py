"""The project's rules, as the detector runs them, for the drills' tests."""

from tests.unit.incidents.conftest import engine

__all__ = ["engine"]
