"""Every error class of soc and connectors hangs under SocError and is drawn in the tree.

The tree is drawn in soc/errors.py's docstring (the connector's part also in
connectors/errors.py). A new error class that is not a SocError, or not drawn,
fails here, so the drawing stays true.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import connectors
import connectors.errors
import soc
import soc.errors
from soc.errors import SocError


def _modules() -> list[str]:
    names = []
    for package in (soc, connectors):
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            names.append(info.name)
    return names


def _error_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == name:
                found[f"{name}.{obj.__qualname__}"] = obj
    return found


def _drawn(doc: str) -> set[str]:
    """Class names on the lines of a drawn tree (``├── Name``, ``└── Name``, the root)."""
    return set(re.findall(r"^\s*(?:[│ ]*[├└]── )?([A-Z]\w+)(?:\s|$)", doc, re.M))


def test_the_walk_finds_the_errors_it_must() -> None:
    found = _error_classes()
    for name in (
        "soc.errors.StoreError",
        "soc.ingest.normalize.NormalizeError",
        "soc.security.tokens.TokenExpired",
        "soc.incidents.errors.InvalidTransition",
        "soc.api.errors.RateLimited",
        "connectors.errors.DeliveryError",
    ):
        assert name in found, name


@pytest.mark.parametrize("name", sorted(_error_classes()))
def test_every_error_is_a_soc_error_drawn_in_the_tree(name: str) -> None:
    cls = _error_classes()[name]
    assert issubclass(cls, SocError), f"{name} does not hang under SocError"
    drawn = _drawn(soc.errors.__doc__ or "")
    assert cls.__name__ in drawn, f"{name} is not drawn in soc/errors.py's tree"


def test_the_connector_tree_is_drawn_in_its_own_module_too() -> None:
    drawn = _drawn(connectors.errors.__doc__ or "")
    for cls in vars(connectors.errors).values():
        own = inspect.isclass(cls) and cls.__module__ == "connectors.errors"
        if own and issubclass(cls, BaseException):
            assert cls.__name__ in drawn, cls
