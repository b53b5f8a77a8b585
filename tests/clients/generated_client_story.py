"""A script's day with a client generated from remit's OpenAPI schema.

``tests/test_api_client.py`` generates the client (package ``remit_client``) with
openapi-python-client and runs this file with the tools venv's Python, which has the
client's own dependencies (httpx, attrs) and not remit's:

    python generated_client_story.py PACKAGE_PARENT URL TOKEN BOOK

It lists the book's providers, gets the first one, and posts one entry for it twice with
the same Idempotency-Key; it prints what it saw as one JSON object. It uses nothing but the
generated client: the token goes in through the schema's bearer scheme.
"""

from __future__ import annotations

import json
import sys
from typing import Any

KEY = "generated-client-story-1"


def story(package_parent: str, url: str, token: str, book: str) -> dict[str, Any]:
    sys.path.insert(0, package_parent)
    from remit_client import AuthenticatedClient  # noqa: PLC0415 - generated at test time
    from remit_client.api.ledger import post_entry  # noqa: PLC0415
    from remit_client.api.parties import get_party, list_parties  # noqa: PLC0415
    from remit_client.models import EntryIn, PartyRole  # noqa: PLC0415

    with AuthenticatedClient(base_url=url, token=token, raise_on_unexpected_status=True) as c:
        page = list_parties.sync(book=book, client=c, role=PartyRole.PROVIDER, limit=3)
        first = page.items[0]
        party = get_party.sync(book=book, party_id=first.id, client=c)
        entry = EntryIn.from_dict(
            {
                "entry_date": "2026-11-20",
                "description": f"Care for November, provider {party.ref}",
                "postings": [
                    {"account": "5000", "amount_minor": 4321, "currency": "GBP"},
                    {
                        "account": "2000",
                        "amount_minor": -4321,
                        "currency": "GBP",
                        "party_id": party.id,
                    },
                ],
            }
        )
        answers = [
            post_entry.sync_detailed(book=book, client=c, body=entry, idempotency_key=KEY)
            for _ in range(2)
        ]
    return {
        "listed": [p.id for p in page.items],
        "next_cursor": page.next_cursor,
        "party": {"id": party.id, "ref": party.ref, "name": party.name},
        "posts": [
            {
                "status": int(a.status_code),
                "replayed": a.headers.get("Idempotent-Replayed"),
                "body": json.loads(a.content),
                "entry_id": a.parsed.id if a.parsed is not None else None,
            }
            for a in answers
        ],
    }


if __name__ == "__main__":
    print(json.dumps(story(*sys.argv[1:5])))
