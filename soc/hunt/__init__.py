"""Hunting: Sigma rules run outside the streaming detector.

- :mod:`soc.hunt.files`: `soc hunt FILES`, the engine over files, offline.
- :mod:`soc.hunt.rules`: the rules a retro-hunt runs (by id, or YAML text), compiled as
  the detector compiles them.
- :mod:`soc.hunt.retro`: a retro-hunt, the engine over the store's events of a range.
- :mod:`soc.hunt.records`: retro-hunts kept as case records, and the runner of the API.
- :mod:`soc.hunt.command`: `soc hunt --store`, a retro-hunt from the command line.
"""
