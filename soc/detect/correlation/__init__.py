"""Sigma correlation rules: compiled (compile), indexed (catalog), evaluated (evaluate).

    ruleset = load_rules(paths)                       # ruleset.correlations, ruleset.silent
    catalog = Correlations(ruleset.correlations)
    evaluator = Evaluator(catalog, settings.detect.correlation)
    alerts = evaluator.feed(catalog.matches_of(rule.id, event))

Modules: model (Correlation, CorrelationMatch), compile (from pySigma), catalog
(Correlations: by referenced rule, ``silent``), measure (each type's figure), evaluate
(Evaluator, its Snapshot), alert (make_correlation_alert). The package's modules are
imported by name (soc.detect.rule imports the model, so this file imports nothing).
See docs/adr/0013-correlations.md.
"""
