"""Escaping for each output medium: terminal, Markdown, XML, Slack.

Everything a report prints came from somewhere untrusted: object names, event
messages and log lines from the cluster, titles and templates from rule packs. Each
medium has its own way to be hijacked (escape sequences that retitle the window or
forge hyperlinks, Markdown images and raw HTML, characters XML cannot hold), so
each has its own function here and every writer calls it on every such value.
"""

from __future__ import annotations

import re
import unicodedata

#: Bidirectional overrides and isolates: they reorder what the reader sees (Trojan Source).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
#: Characters Markdown gives a meaning to anywhere in a line (``[`` starts every link and image,
#: backticks code, the rest emphasis and tables), escaped with a backslash; HTML's with an entity;
#: and what starts a block at the start of a line (heading, list, rule).
_MD_SPECIAL = re.compile(r"[\\`*_\[\]|~]")
_MD_BLOCK_START = re.compile(r"^(?:[#+=-]|\d+(?=[.)]))")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
#: Characters XML 1.0 cannot contain at all, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _visible(ch: str) -> str:
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def terminal(text: str) -> str:
    """Control characters (C0, DEL, C1: the start of every escape sequence) and bidi controls
    shown as ``\\x1b``-style text, so nothing reaches the terminal as a command."""
    return "".join(_visible(ch) if unicodedata.category(ch) == "Cc" or ch in _BIDI else ch for ch in text)


def markdown(text: str) -> str:
    """One line of inert Markdown text: no HTML, links, images, emphasis or line structure."""
    line = terminal(" ".join(text.split()))
    line = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), line)
    line = _MD_BLOCK_START.sub(lambda m: m.group() + "\\" if m.group()[0].isdigit() else "\\" + m.group(), line)
    return "".join(_MD_ENTITIES.get(ch, ch) for ch in line)


def markdown_code(text: str) -> str:
    """An inline code span holding ``text`` verbatim, whatever backticks it contains."""
    line = terminal(" ".join(text.split()))
    fence = "`" * (max((len(run) for run in re.findall("`+", line)), default=0) + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"


def markdown_fence(text: str) -> str:
    """A fence for a code block holding ``text``: longer than any backtick run in it."""
    return "`" * max(3, max((len(run) for run in re.findall("`+", text)), default=0) + 1)


def xml(text: str) -> str:
    """Text XML 1.0 can hold (the serializer escapes ``<`` and ``&``); forbidden characters made visible."""
    return _XML_INVALID.sub(lambda m: _visible(m.group()), text)


def slack(text: str) -> str:
    """Slack mrkdwn text: ``&``, ``<`` and ``>`` as entities, so no ``<!channel>`` mention or
    ``<url|link>`` can be forged (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return "".join(_MD_ENTITIES.get(ch, ch) for ch in terminal(text))
