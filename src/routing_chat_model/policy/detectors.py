"""Sensitivity detectors: does a text hold data that must stay on local models?

A `Detector` has a name and `detect(text) -> bool`. The shipped ones (`DEFAULT_DETECTORS`) find
emails, phone numbers, payment cards (Luhn), IBANs (mod-97), national ids and API keys or
secrets; validators (checksums, ranges, entropy) keep near misses such as dates, version numbers
or placeholder keys from tripping them. Users add their own: any object with `name` and
`detect`, a compiled regex, or a function `text -> bool` (see `as_detector`). Detectors keep no
text and log nothing: the `Compliance` gate records only their names.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, Union, runtime_checkable

from routing_chat_model.errors import RouteConfigError

__all__ = [
    "CARD_DETECTOR",
    "DEFAULT_DETECTORS",
    "EMAIL_DETECTOR",
    "IBAN_DETECTOR",
    "NATIONAL_ID_DETECTOR",
    "PHONE_DETECTOR",
    "SECRET_DETECTOR",
    "Detector",
    "DetectorLike",
    "RegexDetector",
    "as_detector",
    "check_name",
]


@runtime_checkable
class Detector(Protocol):
    """Says whether a text holds data that must stay on local models."""

    @property
    def name(self) -> str:
        """Short name recorded in decisions and errors ("email", "secret", ...)."""
        ...

    def detect(self, text: str) -> bool:
        """Whether `text` holds sensitive data; must not keep or log the text."""
        ...


DetectorLike = Union[Detector, "re.Pattern[str]", Callable[[str], bool]]
"""A `Detector`, a compiled regex (sensitive when it matches), or a function `text -> bool`."""


class RegexDetector:
    """A detector that searches one compiled pattern, optionally validating each match.

    Args:
        name: Short name recorded in decisions.
        pattern: A regex string or compiled pattern; compiled once.
        validate: Checks a match (a checksum, a range); the first match it accepts trips the
            detector. None accepts every match.
        hints: Substrings one of which every match contains; when the text holds none of them
            the regex is not run (a cheap pre-check).
    """

    __slots__ = ("_hints", "_name", "_pattern", "_validate")

    def __init__(
        self,
        name: str,
        pattern: str | re.Pattern[str],
        validate: Callable[[re.Match[str]], bool] | None = None,
        *,
        hints: Sequence[str] = (),
    ) -> None:
        self._name = check_name(name)
        self._pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        self._validate = validate
        self._hints = tuple(hints)

    @property
    def name(self) -> str:  # noqa: D102
        return self._name

    def detect(self, text: str) -> bool:  # noqa: D102
        if self._hints and not any(h in text for h in self._hints):
            return False
        if self._validate is None:
            return self._pattern.search(text) is not None
        return any(self._validate(m) for m in self._pattern.finditer(text))

    def __repr__(self) -> str:
        return f"RegexDetector({self._name!r})"


class _FunctionDetector:
    __slots__ = ("_fn", "_name")

    def __init__(self, name: str, fn: Callable[[str], bool]) -> None:
        self._name = check_name(name)
        self._fn = fn

    @property
    def name(self) -> str:
        return self._name

    def detect(self, text: str) -> bool:
        return bool(self._fn(text))

    def __repr__(self) -> str:
        return f"FunctionDetector({self._name!r})"


def check_name(name: object) -> str:
    """`name` if it is a non-empty string; else `RouteConfigError`."""
    if not isinstance(name, str) or not name.strip():
        raise RouteConfigError(f"a detector's name must be a non-empty string, got {name!r}.")
    return name


def as_detector(value: object, name: str | None = None) -> Detector:
    """Turn a `DetectorLike` into a `Detector`; `name` names regexes and functions.

    Raises:
        RouteConfigError: `value` is none of the accepted kinds (a plain string is refused:
            pass `re.compile(...)` so a typo'd word is not mistaken for a pattern).
    """
    if isinstance(value, Detector) and not isinstance(value, type):
        return value
    if isinstance(value, re.Pattern):
        return RegexDetector(name or "pattern", value)
    if isinstance(value, str):
        raise RouteConfigError(
            f"detectors: got the string {value!r}; pass a compiled pattern "
            "(re.compile(...)), a function text -> bool, or a Detector."
        )
    if callable(value):
        fn_name = getattr(value, "__name__", "")
        default = fn_name if fn_name.isidentifier() else "custom"
        return _FunctionDetector(name or default, value)
    raise RouteConfigError(
        f"detectors: {value!r} is not a Detector (name + detect(text)), a compiled regex or a "
        "function text -> bool."
    )


# -- checks ----------------------------------------------------------------------------------


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _separators(text: str) -> set[str]:
    return {c for c in text if not c.isalnum() and c not in "()+"}


# -- shipped detectors -----------------------------------------------------------------------

# Each shipped detector is a few pre-compiled patterns, each run only when a cheap substring
# test says it can match. Patterns start with a literal or a character class and check the
# character before their first one with a lookbehind placed *after* it (`\d(?<![\w-]\d)`): a
# leading lookbehind would stop the regex engine from skipping ahead to candidate positions,
# which makes a 10k-character scan about ten times slower.


class _AnyOf:
    """A detector tripped by any of its rules (each a `Detector`)."""

    __slots__ = ("_name", "_rules")

    def __init__(self, name: str, *rules: Detector) -> None:
        self._name = name
        self._rules = rules

    @property
    def name(self) -> str:
        return self._name

    def detect(self, text: str) -> bool:
        return any(rule.detect(text) for rule in self._rules)

    def __repr__(self) -> str:
        return f"Detector({self._name!r})"


class _Lowered:
    """A rule run only when one of `hints` occurs in the lower-cased text."""

    __slots__ = ("_hints", "_rule")

    def __init__(self, hints: Sequence[str], rule: Callable[[str, str], bool]) -> None:
        self._hints = tuple(hints)
        self._rule = rule

    name = "lowered"

    def detect(self, text: str) -> bool:
        lowered = text.lower()
        if len(lowered) != len(text):  # a few non-ASCII letters change length when lowered
            lowered = text
        return any(h in lowered for h in self._hints) and self._rule(text, lowered)


_EMAIL = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?!(?:png|jpe?g|gif|svg|webp|pdf)\b)[A-Za-z]{2,24}\b"
)
_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def _email(m: re.Match[str]) -> bool:
    start = m.start()
    return start > 0 and m.string[start - 1] in _EMAIL_LOCAL


EMAIL_DETECTOR: Detector = RegexDetector("email", _EMAIL, _email, hints=("@",))
"""Email addresses (`name@example.org`; not `@handles`, `user@localhost` or `icon@2x.png`)."""

_INTL_PHONE = re.compile(
    r"\+(?<![\w+]\+)\d{1,15}(?:[ .-]?\(\d{1,5}\)[ .-]?\d{1,6})?(?:[ .-]\d{1,6}){0,7}"
    r"(?![\w]|[.-]\d)"
)
_US_PHONE = re.compile(
    r"[\d(](?<![\w.+-][\d(])(?:(?<=\()\d{3}\) ?|(?<=\d)\d{2}[-. ])\d{3}[-. ]\d{4}"
    r"(?![\w]|[.-]\d)"
)
_NATIONAL_PHONE = re.compile(r"0(?<![\w.+/-]0)[1-9]\d{0,3}(?:[ .\-/]\d{2,8}){1,4}(?![\w]|[.\-/]\d)")


def _intl_phone(m: re.Match[str]) -> bool:
    return 8 <= len(_digits(m.group())) <= 15


def _us_phone(m: re.Match[str]) -> bool:
    text = m.group()
    digits = _digits(text)  # NANP: area code and exchange start with 2-9
    return digits[0] >= "2" and digits[3] >= "2" and len(_separators(text) - {" "}) <= 1


def _national_phone(m: re.Match[str]) -> bool:
    text = m.group()  # one separator kind: "01.02.2024 10" is a date and a time
    return 9 <= len(_digits(text)) <= 12 and len(_separators(text)) == 1


PHONE_DETECTOR: Detector = _AnyOf(
    "phone",
    RegexDetector("intl", _INTL_PHONE, _intl_phone, hints=("+",)),
    RegexDetector("us", _US_PHONE, _us_phone),
    RegexDetector("national", _NATIONAL_PHONE, _national_phone, hints=("0",)),
)
"""Phone numbers: international (`+44 20 7946 0958`), US (`(415) 555-0132`), and national
numbers starting with 0 written in groups (`020 7946 0958`, `06 12 34 56 78`); not plain
digit runs, dates, times or version numbers."""

_CARD = re.compile(r"[2-6](?<![\d.,-][2-6])(?:[ -]?\d){12,18}(?![\d]|[ -]\d)")


def _card(m: re.Match[str]) -> bool:
    digits = _digits(m.group())
    return 13 <= len(digits) <= 19 and len(_separators(m.group())) <= 1 and _luhn(digits)


CARD_DETECTOR: Detector = RegexDetector("payment_card", _CARD, _card)
"""Payment card numbers (13 to 19 digits, spaced or dashed, Visa/Mastercard/Amex/Discover/JCB
ranges) that pass the Luhn check."""

_IBAN_LENGTHS = {
    code[:2]: int(code[2:])
    for code in re.findall(
        r"\S+",
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 "
        "DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 "
        "IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 "
        "MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 "
        "SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30 ",
    )
}
"""IBAN length per country (ISO 13616 registry)."""
_IBAN = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")


def _iban(m: re.Match[str]) -> bool:
    text = m.group().upper()
    length = _IBAN_LENGTHS.get(text[:2])
    if length is None:
        return False
    chars: list[str] = []
    for i, ch in enumerate(text):  # the first `length` characters, ending at a group boundary
        if ch != " ":
            chars.append(ch)
            if len(chars) == length:
                if i + 1 < len(text) and text[i + 1] != " ":
                    return False
                break
    if len(chars) != length:
        return False
    iban = "".join(chars)
    remainder = 0
    for ch in iban[4:] + iban[:4]:  # ISO 13616 mod-97: letters count as 10..35
        remainder = (remainder * (100 if ch.isalpha() else 10) + int(ch, 36)) % 97
    return remainder == 1


IBAN_DETECTOR: Detector = RegexDetector("iban", _IBAN, _iban)
"""IBANs (spaced or not) of a known country's length that pass the ISO 13616 mod-97 check."""

_SSN = re.compile(r"\d(?<![\w-]\d)\d{2}[- ]\d{2}[- ]\d{4}(?![\w-])")
_SSN_LABELLED = re.compile(r"(?i:\b(?:ssn|social security (?:number|no\.?|#))\W{0,5})(\d{9})(?!\d)")
_NINO = re.compile(
    r"[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]"
    r"(?![A-Za-z0-9])"
)
_DNI = re.compile(r"\d(?<![A-Za-z0-9]\d)\d{7}-?[A-Z](?![A-Za-z0-9])")
_NIE = re.compile(r"[XYZ](?<![A-Za-z0-9][XYZ])\d{7}-?[A-Z](?![A-Za-z0-9])")
_BAD_NINO_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _ssn_ok(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and digits not in ("078051120", "219099999")  # advertised sample numbers
    )


def _ssn(m: re.Match[str]) -> bool:
    return len(_separators(m.group())) == 1 and _ssn_ok(_digits(m.group()))


def _ssn_labelled(text: str, lowered: str) -> bool:
    return any(_ssn_ok(m.group(1)) for m in _SSN_LABELLED.finditer(text))


def _dni(m: re.Match[str]) -> bool:
    number = m.group().replace("-", "")
    head = str("XYZ".index(number[0])) if number[0] in "XYZ" else number[0]  # NIE: X=0 Y=1 Z=2
    return _DNI_LETTERS[int(head + number[1:-1]) % 23] == number[-1]


NATIONAL_ID_DETECTOR: Detector = _AnyOf(
    "national_id",
    RegexDetector("ssn", _SSN, _ssn),
    _Lowered(("ssn", "social security"), _ssn_labelled),
    RegexDetector("nino", _NINO, lambda m: m.group()[:2] not in _BAD_NINO_PREFIXES),
    RegexDetector("dni", _DNI, _dni),
    RegexDetector("nie", _NIE, _dni, hints=("X", "Y", "Z")),
)
"""National ids: US SSNs (`123-45-6789`, invalid ranges excluded, or 9 digits after "SSN"),
UK National Insurance numbers (`AB 12 34 56 C`), Spanish DNI/NIE with their check letter."""

_PLACEHOLDERS = tuple(
    re.findall(
        r"\S+",
        "your example xxxx **** .... changeme placeholder dummy redacted "
        "environ getenv secrets. settings. config.",
    )
)
_NAME_LIKE = re.compile(r"[A-Za-z_]+|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _mixed(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _secret_value(value: str) -> bool:
    """Whether an assigned value looks like a real secret, not a name or a placeholder."""
    lowered = value.lower()
    if any(p in lowered for p in _PLACEHOLDERS) or _NAME_LIKE.fullmatch(value):
        return False
    classes = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )
    return classes >= 2 and _entropy(value) >= 2.5


def _occurrences(lowered: str, word: str) -> Iterator[int]:
    at = lowered.find(word)
    while at >= 0:
        yield at
        at = lowered.find(word, at + 1)


_BEARER = re.compile(r"bearer\s+([A-Za-z0-9._~+/-]{16,}=*)", re.IGNORECASE)


def _bearer(text: str, lowered: str) -> bool:
    for at in _occurrences(lowered, "bearer"):
        m = _BEARER.match(text, at)
        if m and (at == 0 or not lowered[at - 1].isalnum()) and _mixed(m.group(1)):
            return True
    return False


_KEY_NAMES = ("key", "secret", "passw", "pwd", "token", "credential")
_ASSIGNED = re.compile(
    r"[A-Za-z0-9_-]{0,64}[\"']?\s{0,3}[:=]\s{0,3}[\"']?([^\s\"'`,;()<>{}\[\]]{8,200})"
)


def _assignment(text: str, lowered: str) -> bool:
    """`api_key = "..."`, `"password": "..."`, `DB_TOKEN=...` with a secret-looking value."""
    for word in _KEY_NAMES:
        for at in _occurrences(lowered, word):
            m = _ASSIGNED.match(text, at + len(word))
            if m and _secret_value(m.group(1)):
                return True
    return False


def _literal(name: str, pattern: str, *hints: str) -> RegexDetector:
    return RegexDetector(name, pattern, hints=hints)


SECRET_DETECTOR: Detector = _AnyOf(
    "secret",
    RegexDetector(
        "openai",
        r"s(?<![\w-]s)k-[A-Za-z0-9_-]{20,}",
        lambda m: _mixed(m.group()[3:]),
        hints=("sk-",),
    ),
    _literal("stripe", r"[rs](?<![\w-][rs])k_(?:live|test)_[A-Za-z0-9]{16,}", "k_live_", "k_test_"),
    _literal(
        "aws",
        r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        *("AKIA", "ASIA", "ABIA", "ACCA"),
    ),
    _literal(
        "github",
        r"g(?<!\wg)h(?:[pousr]_[A-Za-z0-9]{36,}|ithub_pat_[A-Za-z0-9_]{22,})",
        *("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    _literal("slack", r"x(?<![\w-]x)ox[abposr]-[A-Za-z0-9-]{10,}", "xox"),
    _literal("google", r"A(?<![\w-]A)Iza[0-9A-Za-z_-]{35}", "AIza"),
    _literal(
        "jwt", r"e(?<![\w-]e)yJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "eyJ"
    ),
    _literal("pem", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", "PRIVATE KEY"),
    _Lowered(("bearer",), _bearer),
    _Lowered(_KEY_NAMES, _assignment),
)
"""API keys and secrets: OpenAI/Anthropic `sk-...`, Stripe, AWS `AKIA...`, GitHub `ghp_...`,
Slack `xox...`, Google `AIza...`, JWTs, `Bearer` tokens, PEM private keys, and high-entropy
values assigned to names containing `key`, `secret`, `password`, `token` (placeholders such as
`YOUR_API_KEY` or `os.environ[...]` are not flagged)."""

DEFAULT_DETECTORS: tuple[Detector, ...] = (
    EMAIL_DETECTOR,
    PHONE_DETECTOR,
    CARD_DETECTOR,
    IBAN_DETECTOR,
    NATIONAL_ID_DETECTOR,
    SECRET_DETECTOR,
)
"""The shipped detectors; extend with `detectors=[*DEFAULT_DETECTORS, my_detector]`."""
