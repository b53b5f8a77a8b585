"""Events of a book (entry.posted, case.created, ...) and the webhooks that deliver them.

Services emit events in their own transaction (an outbox): an event is stored, with one
delivery per matching subscription, only when the book has such a subscription. Deliveries
are POSTed by the workers, signed with HMAC-SHA256, retried with backoff, and logged.
"""
