"""Fuzzing every boundary that takes outside input (issue 16, item 3; docs/FUZZING.md).

``targets/<name>.py`` each hold ``fuzz_one(data: bytes)``: it calls one entry point and
lets through only that boundary's documented, typed errors; anything else raised is a
crash. ``corpus/<name>/`` are their seeds (recorded logs and the repository's own rules
and fixtures). ``python -m tests.fuzz run`` runs them under atheris (coverage-guided).
"""
