"""Paid (``paid-python``): REST under ``/compat/paid/api/v2`` (1.x) and ``/compat/paid/api/v1``
(the 0.x wire), traces at Margin's ``/v1/traces`` (1.x) or ``/compat/paid/v1/traces`` (0.x,
key in the resource attribute ``api.key``)."""
