"""Threat intelligence: indicators taken in (TAXII feeds, STIX bundles, MISP files, pasted
lists), kept with their source, confidence, TLP and validity, and matched in the stream."""
