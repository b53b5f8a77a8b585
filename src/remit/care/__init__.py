"""Care delivery monitoring: commissioned (planned) visits against carers' actual check-ins.

The engine (``engine.py``) matches actual records to planned visits and applies the book's
tolerance policy (``model.Policy``) to give every carer place, and every record left over, an
outcome that names the rule that decided it and the amount to pay. ``exchange.py`` reads and
writes remit's documented CSV exchange format (docs/formats/care.md), so that the engine runs
offline on a council's own files (``remit care reconcile``) as well as inside the app.
"""
