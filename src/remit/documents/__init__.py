"""Stored files and the documents that link them to parties, cases and other objects.

A file is kept once per book by its SHA-256 (content-addressed), within size and type limits
checked on the content itself, not only the name. A document links a file to an object
(``party``, ``case``, ...) with a title, who uploaded it, and whether a portal user may see it.
"""
