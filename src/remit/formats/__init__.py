"""One module per external bank or payment format (ARCHITECTURE.md ``formats/``).

Pure code: no database and no web. Writers take :class:`remit.formats.payfile.FilePayment`
rows and the file's :class:`~remit.formats.payfile.FileStamp` and return bytes; checkers take
bytes written by anyone and return a :class:`remit.formats.findings.CheckReport`.
"""
