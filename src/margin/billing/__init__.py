"""Billing: meters over generic events, charge models, plans and orders, the rating
function (revenue from facts and orders), invoices."""
