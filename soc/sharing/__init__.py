"""Sharing with national platforms: what a tenant's policy lets leave the SOC (STIX 2.1),
pushed to TAXII 2.1 collections and served from the SOC's own TAXII 2.1 API."""
