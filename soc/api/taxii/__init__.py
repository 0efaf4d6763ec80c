"""The SOC's TAXII 2.1 server: each tenant's shared STIX objects, read-only, under ``/taxii2/``.

- :mod:`.resources`: the TAXII resources (discovery, API root, collection, envelope,
  manifest, versions, error) and the media types,
- :mod:`.access`: who calls (an API key of the ``taxii`` role, sent as HTTP Basic or
  bearer) and the collections they hold (one per tenant of the key),
- :mod:`.routes`: the endpoints, with TAXII's error bodies instead of problem documents.

The content is :class:`soc.sharing.objects.StixObjects`; docs/adr/0018-taxii-server.md.
"""

from soc.api.taxii.routes import router

__all__ = ["router"]
