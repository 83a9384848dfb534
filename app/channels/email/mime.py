"""Just enough MIME, written directly: the standard library's generator costs milliseconds a
message, which would make MIME building, not SMTP, the limit of a send. Headers are RFC 2047
encoded words when not plain ASCII; bodies are quoted-printable UTF-8; lines end in CRLF."""

from __future__ import annotations

import base64
import binascii
import secrets

_MAX_WORD_BYTES = 45  # 45 bytes -> 60 base64 characters: each encoded word stays within 75
_ATEXT_SPECIALS = set('()<>[]:;@\\,."')


def encoded_words(text: str) -> str:
    """A header value: as is when printable ASCII, otherwise folded UTF-8 encoded words."""
    if text.isascii() and text.isprintable() and len(text) <= 900:
        return text
    words: list[str] = []
    chunk = b""
    for char in text:
        encoded = char.encode()
        if len(chunk) + len(encoded) > _MAX_WORD_BYTES:
            words.append(chunk)  # type: ignore[arg-type]
            chunk = b""
        chunk += encoded
    words.append(chunk)  # type: ignore[arg-type]
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode()}?=" for w in words)  # type: ignore[arg-type]


def mailbox(email: str, name: str = "") -> str:
    """``Name <local@domain>`` with the name quoted or encoded and the domain in IDNA."""
    local, _, domain = email.rpartition("@")
    if not local.isascii():
        raise ValueError("addresses with non-ASCII local parts need SMTPUTF8, which is not used")
    address = email if domain.isascii() else f"{local}@{domain.encode('idna').decode()}"
    if not name:
        return address
    if name.isascii() and name.isprintable():
        if set(name) & _ATEXT_SPECIALS:
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{address}>"
    return f"{encoded_words(name)} <{address}>"


def quoted_printable(text: str) -> bytes:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").encode()
    return binascii.b2a_qp(normalised, quotetabs=False, istext=True).replace(b"\n", b"\r\n")


def text_part(subtype: str, text: str) -> bytes:
    return (
        f"Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode() + quoted_printable(text)


def assemble(headers: list[tuple[str, str]], parts: list[bytes]) -> bytes:
    """Headers, then one text part or a multipart/alternative of several (last preferred)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers) + "MIME-Version: 1.0\r\n"
    if len(parts) == 1:
        return head.encode() + parts[0]
    boundary = "=_" + secrets.token_hex(12)
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    head += f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
    return head.encode() + body + b"--" + boundary.encode() + b"--\r\n"
