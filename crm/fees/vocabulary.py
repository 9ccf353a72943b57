"""The words and fixed sets of referral fees (DOMAIN.md "Referral fees"). Pure."""

from __future__ import annotations

from decimal import Decimal

BASES = {
    "flat_per_admission": "Flat fee per admission",
    "percent_of_treatment_value": "Percentage of the treatment value",
    "per_week_of_stay": "Per week of stay (with a cap)",
}
# Currencies the service bills in, with the digits of their minor unit (pence, cents).
CURRENCIES = {"GBP": 2, "EUR": 2, "USD": 2}
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
# VAT treatments and their rate. Standard is the UK standard rate; "outside the scope" is a
# clinic abroad that accounts for VAT itself (reverse charge): no UK VAT on the invoice.
VAT_TREATMENTS = {
    "standard": "Standard rate (20 %)",
    "zero": "Zero rate (0 %)",
    "exempt": "Exempt",
    "outside_scope": "Outside the scope of UK VAT (reverse charge)",
}
VAT_RATES = {
    "standard": Decimal("20"),
    "zero": Decimal("0"),
    "exempt": Decimal("0"),
    "outside_scope": Decimal("0"),
}
VAT_NOTES = {
    "exempt": "Exempt from VAT.",
    "outside_scope": "Reverse charge: the customer accounts for any VAT due.",
}

LEDGER_KINDS = {
    "accrual": "Accrual",
    "invoice": "Invoice",
    "payment": "Payment",
    "clawback": "Clawback",
    "credit_note": "Credit note",
    "write_off": "Write-off",
    "reversal": "Reversal",
}
# Two accounts, both derived from entries: fees earned and not yet billed, and what a provider
# owes on its invoices (less payments, credit notes and write-offs).
UNBILLED_KINDS = frozenset({"accrual", "clawback"})
RECEIVABLE_KINDS = frozenset({"invoice", "payment", "credit_note", "write_off"})

DOCUMENT_KINDS = {"invoice": "Invoice", "credit_note": "Credit note"}
SERIES = {"invoice": "INV", "credit_note": "CN"}
INVOICE_STATUSES = {
    "draft": "Draft",
    "issued": "Issued",
    "part_paid": "Part paid",
    "paid": "Paid",
    "written_off": "Written off",
    "void": "Void",
}
OPEN_INVOICE_STATUSES = ("issued", "part_paid")
PAYMENT_METHODS = {
    "bank_transfer": "Bank transfer",
    "card": "Card",
    "cheque": "Cheque",
    "other": "Other",
}
AGE_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
AGE_BUCKET_LABELS = {
    "current": "Current (not yet due)",
    "1-30": "1–30 days",
    "31-60": "31–60 days",
    "61-90": "61–90 days",
    "90+": "Over 90 days",
}
