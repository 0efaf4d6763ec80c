"""The detections shipped inside the package: the project's rules, pipelines and samples.

This package holds data (YAML rules, pySigma pipelines, NDJSON samples) and only
the names of its folders, so that the settings, at the bottom of the layers, can
default to them.

    RULES      -> <soc>/detections/rules       the default of ``detect.rules``
    PIPELINES  -> <soc>/detections/pipelines   where ``windows``, ``placeholders`` are found

``<soc>`` is the folder of the installed ``soc`` package, found through
``importlib.resources``: site-packages for a wheel install, the checkout for an
editable one. Nothing here depends on the working directory, so ``soc run`` and
``soc hunt`` work from anywhere. See docs/adr/0009-detections-ship-in-the-package.md.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = Path(str(files("soc")))
"""The installed package's folder. Rules are walked as files, so a zipped install is not
supported (pip installs wheels unzipped)."""
DETECTIONS = PACKAGE / "detections"
RULES = DETECTIONS / "rules"
PIPELINES = DETECTIONS / "pipelines"
