"""Paying providers: bank files from payables (``remit payments file``) and their checks."""
