"""The control plane: features and entitlements, credit grants burned by a ledger of balance
changes, alert rules on cost, revenue, margin, usage and balances, and webhooks signed per
the Standard Webhooks specification, delivered from an outbox written with their cause.

Store-level services: they take a connection and an organization, and never import the
server. Routes (``margin.server.routes.control_*``) and the CLI (``margin.cli_control``) are
thin layers over them.
"""
