"""Benchmarks of remit, run as ``python -m bench <name>`` (see ``bench/RESULTS.md``).

Each benchmark drives the public service API, the way a caller would, and prints its figures
beside the raw speed of the same database on the same machine (the ceiling), with the
project's targets marked PASS or MISS. Figures are also written as JSON under ``bench/out/``
(git-ignored).
"""
