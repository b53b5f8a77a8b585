"""Background jobs with progress: imports, reconciliations, runs, checks.

A job is a row (kind, parameters, status, progress); workers claim queued jobs (on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so many workers share the queue), run the kind's
handler, and record progress, the result or the error. The web page polls the row; the CLI
draws a Rich progress bar.
"""
