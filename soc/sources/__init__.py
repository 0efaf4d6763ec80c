"""The SOC's own view of its feeds: which sources send, and what they lost (issue 14).

``intervals``: sets of sequence numbers as ranges; ``ledger``: the loss ledger;
``models``: its typed answers and its snapshot.
"""
