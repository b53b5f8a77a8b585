"""The work queue: cases of every type, their states, owners, SLAs and history; and the
correspondence with parties (calls, e-mails, letters) with its templates in English and
Spanish.

Packages register their case types (``cases.model.register_case_type``); a case type names
its states and the transitions allowed between them, its team and its SLA in business days.
"""
