"""Billing: meters over generic events, charge models, plans and orders, rating, invoices."""
