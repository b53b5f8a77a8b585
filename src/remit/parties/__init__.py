"""Parties: providers, clients, customers, carriers and vendors; their identifiers, contacts
and bank details (encrypted, masked, changed only with a second person's approval)."""
