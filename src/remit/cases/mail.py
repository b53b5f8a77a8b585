"""E-mail over SMTP: building the MIME message remit sends, and the mailer that sends it.

The message is built once (``build_message``) and serialised once (``wire_bytes``: SMTP line
endings, 7-bit, quoted-printable text); those exact bytes are what the mailer hands to the
server and what the correspondence log keeps. The mailer is configured from the environment
(``mailer_from_env``); the password is never shown in a repr, a log line or an error.

>>> mailer_from_env({}) is None
True
>>> mailer_from_env({"REMIT_SMTP_HOST": "smtp.example.org", "REMIT_SMTP_FROM": "pay@example.org",
...                  "REMIT_SMTP_USER": "pay", "REMIT_SMTP_PASSWORD": "s3cret",
...                  "REMIT_SMTP_STARTTLS": "yes"})
Mailer(host='smtp.example.org', port=587, sender='pay@example.org', username='pay', starttls=True, timeout=10.0)
"""  # noqa: E501 - a repr is one line

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr

from remit.errors import RemitError

log = logging.getLogger(__name__)

SMTP_POLICY = policy.SMTP  # CRLF line endings, headers RFC 2047-encoded (7-bit)
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_TRUE = ("1", "true", "yes", "on")


class MailSettingsInvalid(RemitError):
    """The REMIT_SMTP_* settings are incomplete or wrong: a setting to fix, not a crash."""


class SendFailed(Exception):
    """The SMTP server could not be reached or did not accept the message."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message (a remittance advice's PDF): its name, type and bytes."""

    filename: str
    content_type: str  # "application/pdf"
    data: bytes


def is_email_address(text: str) -> bool:
    """A plain ASCII address ``local@domain.tld`` (no name, no list).

    >>> is_email_address("jo@sunrise.example"), is_email_address("jo@localhost")
    (True, False)
    >>> is_email_address("a@b.example, c@d.example"), is_email_address("x@y.example\\nBcc: z")
    (False, False)
    """
    return _ADDRESS.fullmatch(text) is not None


def build_message(
    sender: str,
    sender_name: str,
    to_address: str,
    to_name: str,
    subject: str,
    text: str,
    html: str = "",
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """A message with remit's own Message-ID and Date; HTML, when given, as an alternative;
    attachments, when given, after the text (base64, so the wire stays 7-bit).

    >>> m = build_message("pay@council.example", "Northshire Council", "jo@care.example",
    ...                   "Jo Núñez", "Your statement", "Dear Jo,\\n")
    >>> m["To"], m["Message-ID"].endswith("@council.example>")
    ('Jo Núñez <jo@care.example>', True)
    >>> b"To: Jo =?utf-8?q?N=C3=BA=C3=B1ez?= <jo@care.example>\\r\\n" in wire_bytes(m)
    True
    >>> pdf = Attachment("a.pdf", "application/pdf", b"%PDF-")
    >>> m = build_message("pay@council.example", "Council", "jo@care.example", "Jo", "Advice",
    ...                   "Paid.\\n", attachments=[pdf])
    >>> m.get_content_type(), [a.get_filename() for a in m.iter_attachments()]
    ('multipart/mixed', ['a.pdf'])
    """
    name, address = parseaddr(sender)
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = Address(display_name=name or sender_name, addr_spec=address)
    message["To"] = Address(display_name=to_name, addr_spec=to_address)
    message["Subject"] = " ".join(subject.split())
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid("remit", domain=address.rpartition("@")[2] or None)
    message.set_content(text, cte="quoted-printable")
    if html:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    for attached in attachments:
        maintype, _, subtype = attached.content_type.partition("/")
        message.add_attachment(
            attached.data, maintype=maintype, subtype=subtype, filename=attached.filename
        )
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """The message exactly as it goes over the wire (and as the log keeps it)."""
    return message.as_bytes(policy=SMTP_POLICY)


@dataclass(frozen=True, slots=True)
class Mailer:
    """Sends messages through one SMTP server (optionally STARTTLS and a login)."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = 10

    def send(self, message: EmailMessage) -> str:
        """Hand the message to the server; returns its Message-ID, or raises ``SendFailed``."""
        message_id = str(message["Message-ID"] or "")
        if not message_id:
            raise ValueError("the message needs a Message-ID (see build_message)")
        recipients = [address for _, address in getaddresses(message.get_all("To", []))]
        raw = wire_bytes(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.sendmail(parseaddr(self.sender)[1], recipients, raw)
        except (smtplib.SMTPException, OSError) as error:
            reason = f"{self.host}:{self.port}: {type(error).__name__}: {error}"
            log.warning("e-mail %s not sent: %s", message_id, reason)
            raise SendFailed(reason) from error
        if refused:  # some recipients refused, others accepted: not what was asked
            raise SendFailed(f"{self.host}:{self.port} refused {sorted(refused)}")
        log.info("e-mail %s sent through %s:%s", message_id, self.host, self.port)
        return message_id


def mailer_from_env(env: Mapping[str, str] | None = None) -> Mailer | None:
    """The mailer the environment describes, or None when ``REMIT_SMTP_HOST`` is not set.

    REMIT_SMTP_HOST, REMIT_SMTP_PORT (25, or 587 with STARTTLS), REMIT_SMTP_FROM (required),
    REMIT_SMTP_USER, REMIT_SMTP_PASSWORD, REMIT_SMTP_STARTTLS (1/true/yes/on).
    """
    env = os.environ if env is None else env
    host = env.get("REMIT_SMTP_HOST", "").strip()
    if not host:
        return None
    sender = env.get("REMIT_SMTP_FROM", "").strip()
    if not is_email_address(parseaddr(sender)[1]):
        raise MailSettingsInvalid(
            "REMIT_SMTP_FROM must name the sender's address when REMIT_SMTP_HOST is set"
        )
    starttls = env.get("REMIT_SMTP_STARTTLS", "").strip().lower() in _TRUE
    port_text = env.get("REMIT_SMTP_PORT", "").strip() or ("587" if starttls else "25")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise MailSettingsInvalid(f"REMIT_SMTP_PORT must be a port number, not {port_text!r}")
    username = env.get("REMIT_SMTP_USER", "").strip() or None
    password = env.get("REMIT_SMTP_PASSWORD") or None
    if username and not password:
        raise MailSettingsInvalid("REMIT_SMTP_USER is set but REMIT_SMTP_PASSWORD is not")
    return Mailer(host, int(port_text), sender, username, password, starttls, 10.0)
