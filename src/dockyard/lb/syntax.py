"""HAProxy config syntax: quoting words, ALB wildcards as regexes, rule conditions as ACLs.

Everything a user can type into a rule (paths, hosts, header values, bodies,
redirect templates) reaches the config through `word()` or `log_format()`, so
no value can break out of its argument. Used by `render.py`.
"""

from __future__ import annotations

import re

from dockyard.lb.model import Condition

_BARE = re.compile(r"[A-Za-z0-9_./:@+=,*?~!^-]+")


def word(text: str) -> str:
    """One config argument: bare when harmless, else double-quoted with escapes."""
    if _BARE.fullmatch(text):
        return text
    out = []
    for char in text:
        if char in '\\"$':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def patterns(values: list[str]) -> str:
    """ACL patterns, with `--` first when one could be read as a flag."""
    words = " ".join(word(v) for v in values)
    return f"-- {words}" if any(v.startswith("-") for v in values) else words


def wildcard_regex(pattern: str, any_char: str = ".") -> str:
    """ALB wildcards (`*` any run, `?` one character) as an anchored PCRE."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(any_char + "*")
        elif char == "?":
            parts.append(any_char)
        else:
            parts.append(re.escape(char))
    return "".join(parts)


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def path_acl(value: str) -> str:
    """Case-sensitive path match; the cheap matchers where the pattern allows them."""
    if not has_wildcard(value):
        return f"path -m str {patterns([value])}"
    if value.endswith("*") and not has_wildcard(value[:-1]):
        return f"path_beg {patterns([value[:-1]])}"
    if value.startswith("*") and not has_wildcard(value[1:]):
        return f"path_end {patterns([value[1:]])}"
    return f"path_reg {word('^' + wildcard_regex(value) + '$')}"


def text_acl(fetch: str, value: str) -> str:
    """Case-insensitive match of a header-like value, with wildcards."""
    if not has_wildcard(value):
        return f"{fetch} -m str -i {patterns([value])}"
    return f"{fetch} -m reg -i {word('^' + wildcard_regex(value) + '$')}"


def query_acl(key: str | None, value: str) -> str:
    """One key=value pair anywhere in the query string (key omitted: any key)."""
    val = wildcard_regex(value, "[^&]")
    name = "[^&=]*=" if key is None else wildcard_regex(key, "[^&=]") + "="
    if key is None:
        name = f"(?:{name})?"
    return f"query -m reg -i {word('(?:^|&)' + name + val + '(?:&|$)')}"


def condition_acls(condition: Condition) -> list[str]:
    """One line per alternative; several `acl` lines with one name are ORed by HAProxy."""
    kind = condition.field
    if kind == "path-pattern":
        return [path_acl(v) for v in condition.values]
    if kind == "host-header":
        return [text_acl("req.hdr(host),field(1,:)", v) for v in condition.values]
    if kind == "http-header":
        name = condition.header or ""
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
            return ["always_false"]
        return [text_acl(f"req.fhdr({name})", v) for v in condition.values]
    if kind == "query-string":
        return [query_acl(key, value) for key, value in condition.pairs]
    if kind == "http-request-method":
        return [f"method -m str {patterns(list(condition.values))}"] if condition.values else []
    if kind == "source-ip":
        return [f"src {patterns(list(condition.values))}"] if condition.values else []
    return ["always_false"]  # a condition we cannot evaluate never matches


def log_format_literal(text: str) -> str:
    """Literal text inside a log-format string (before `word()` quotes it)."""
    return text.replace("%", "%%")


def redirect_component(template: str, placeholders: dict[str, str]) -> str:
    """A redirect template (`#{host}`, `#{path}`, ...) as log-format text."""
    out = []
    for piece in re.split(r"(#\{(?:protocol|host|port|path|query)\})", template):
        if piece in placeholders:
            out.append(placeholders[piece])
        else:
            out.append(log_format_literal(piece))
    return "".join(out)
