"""Notifications (issue 14): what happened, told to people by mail, webhook or chat.

    audit trail ─┐                          ┌─> email (SMTP, STARTTLS, login)
    deadlines ───┼─> Notice ─> routes ─> outbox record ─> sender ─> signed webhook
    hooks ───────┘   (models)  (routing)   (outbox)      (channels) templated chat

A :class:`~soc.notify.models.Notice` is one event worth telling (a new incident, a
hand-off, a deadline...); :mod:`soc.notify.routing` picks the channels its routes name;
:mod:`soc.notify.messages` writes the message (Vietnamese, or English per route or
channel) with the incident's link, severity, host and rule, never an event's content;
:mod:`soc.notify.outbox` keeps one record per (notice, channel) under an id made of
both, so a notice enqueued by two processes is one message, and a sender claims it
with a versioned write before sending, so only one sends it.
"""
