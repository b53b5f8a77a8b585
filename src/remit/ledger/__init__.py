"""The one append-only double-entry ledger: books, accounts, entries, balances, periods, audit.

Every movement of money in remit is a balanced journal entry posted here; open items, aging
and statements elsewhere are views of it. Amounts are integer minor units: a positive
``amount_minor`` is a debit, a negative one a credit.
"""
