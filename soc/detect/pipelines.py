"""pySigma processing pipelines, applied to each rule before it is compiled.

    pipelines = load_pipelines(["windows", "placeholders", Path("site.yml")])
    pipelines.apply(sigma_rule)       # what rules.load_rules(..., pipelines=...) does

A pipeline is named by a path to a YAML file (absolute, or relative to the
working directory), or by the bare name of one of the project's pipelines,
which ship in the package: ``windows`` is ``<soc>/detections/pipelines/windows.yml``
wherever the service runs from (soc.detections). The files are pySigma
processing pipelines (``ProcessingPipeline.from_yaml``): field name mappings
with logsource conditions, placeholder values, and any other transformation
pySigma offers. Several are combined as pySigma's resolver
does: transformations by ``priority`` (lowest first), then in the order
given; their ``vars`` merge in the order given, later ones winning (so a site
file listed after ``placeholders`` sets the city's placeholder values).
See docs/adr/0003-rule-side-pipelines.md.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from soc.detections import PIPELINES
from soc.errors import ConfigError

PIPELINES_DIR = PIPELINES
"""Where a pipeline given by name is found: the package's own, whatever the working directory."""

SUFFIXES = (".yml", ".yaml")


def pipeline_path(spec: str | Path, *, folder: Path = PIPELINES_DIR) -> Path:
    """The file a pipeline spec names: a path as is, a bare name in ``folder``."""
    text = str(spec)
    if isinstance(spec, Path) or "/" in text or text.endswith(SUFFIXES):
        return Path(spec)
    return folder / f"{text}.yml"


@dataclass(frozen=True, slots=True, eq=False)
class Pipelines:
    """The pipelines named, combined, and what identifies them for the rule cache."""

    pipeline: ProcessingPipeline | None
    identity: str
    """SHA-256 of each file's path and bytes, in the order applied; "" when there are none."""

    def apply(self, rule: SigmaRule) -> None:
        """Transform the rule in place (pySigma's ProcessingPipeline.apply)."""
        if self.pipeline is not None:
            self.pipeline.apply(rule)


NO_PIPELINES = Pipelines(pipeline=None, identity="")
_PARSED: dict[tuple[str, str], ProcessingPipeline] = {}
_PARSED_MAX = 32


def _parsed(text: str, source: str) -> ProcessingPipeline:
    """The pipeline of ``text``, parsed once: a rule upload's check (soc.detect.imports)
    loads the pipelines each time, and parsing them is most of its cost. A copy is given,
    as pySigma keeps state in a pipeline while it applies it."""
    key = (source, text)
    pipeline = _PARSED.get(key)
    if pipeline is None:
        pipeline = ProcessingPipeline.from_yaml(text, source_path=source)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = pipeline
    return copy.deepcopy(pipeline)


def load_pipelines(specs: Sequence[str | Path], *, folder: Path = PIPELINES_DIR) -> Pipelines:
    """Read and combine the pipelines named. Raises ConfigError for one that is unusable."""
    loaded: list[tuple[ProcessingPipeline, Path, bytes]] = []
    for spec in specs:
        path = pipeline_path(spec, folder=folder)
        try:
            data = path.read_bytes()
            text = data.decode("utf-8")
        except OSError as e:
            known = sorted(p.stem for p in folder.glob("*.yml")) if folder.is_dir() else []
            raise ConfigError(
                f"processing pipeline {str(spec)!r}: cannot read {path}: {e.strerror or e}"
                f" (names known in {folder}: {', '.join(known) or 'none'})"
            ) from e
        except UnicodeDecodeError as e:
            raise ConfigError(f"processing pipeline {path} is not UTF-8 text") from e
        try:
            pipeline = _parsed(text, str(path))
        except (SigmaError, yaml.YAMLError, ValueError, TypeError, AttributeError) as e:
            raise ConfigError(f"processing pipeline {path} is refused: {e}") from e
        if not isinstance(pipeline, ProcessingPipeline):  # pragma: no cover - pySigma's contract
            raise ConfigError(f"processing pipeline {path} is not a pipeline")
        loaded.append((pipeline, path, data))
    if not loaded:
        return NO_PIPELINES
    given_vars = {k: v for pipeline, _, _ in loaded for k, v in pipeline.vars.items()}
    loaded.sort(key=lambda item: item[0].priority)  # stable: equal priorities keep their order
    identity = hashlib.sha256()
    for _, path, data in loaded:
        identity.update(f"{path}\0{len(data)}\0".encode() + data)
    first, *rest = (pipeline for pipeline, _, _ in loaded)
    combined: ProcessingPipeline = sum(rest, first)
    combined.vars = given_vars  # a site file listed later overrides placeholder values
    return Pipelines(pipeline=combined, identity=identity.hexdigest())
