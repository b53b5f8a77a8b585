"""The one append-only double-entry ledger: books, accounts, entries, balances, periods, audit.

Every movement of money in remit is a balanced journal entry posted here; aging and
statements elsewhere are views of it. Every posting to a control account with a party is
also an open item (``ledger.items``: settlements, open amounts as of a date, the frame a
payment run reads), whose open amounts sum to the party's balance. Amounts are integer
minor units: a positive ``amount_minor`` is a debit, a negative one a credit.
"""
