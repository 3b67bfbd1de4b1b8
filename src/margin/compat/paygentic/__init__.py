"""Paygentic (``paygentic-sdk``): its ``/v0/…`` API under ``/compat/paygentic`` (the SDK keeps
the path of its ``server_url``)."""
