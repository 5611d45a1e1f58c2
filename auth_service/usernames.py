"""Usernames as a person reads them: one canonical form, and no look-alike tricks.

Two usernames are the same when their canonical forms are equal: NFKC, then
case folding, then NFKC again (Unicode's NFKC_Casefold recipe), so ``Paul``,
``paul`` and the full-width ``\uff50\uff41\uff55\uff4c`` are one name. A new username is also
refused when it could pass for another one on screen: control and format
characters, invisible ones, bidirectional overrides and isolates, and letters
of more than one script (a Cyrillic ``\u0430`` in a Latin ``paul``).
"""

from __future__ import annotations

import unicodedata
from functools import cache

import regex

from shared.errors import APIError

MIN_LENGTH = 3
MAX_LENGTH = 64

# Besides letters, marks and digits, a username may hold these (ASCII only).
ALLOWED_PUNCTUATION = frozenset(".-_@'+")

# Unicode's Bidi_Control characters: embeddings, overrides, isolates and marks.
BIDI_CONTROL = regex.compile(r"\p{Bidi_Control}")
# Shown as nothing: default-ignorable code points (zero-width space and joiners,
# variation selectors, ...) and the blank letters that are not marked as such.
INVISIBLE = regex.compile(r"[\p{Default_Ignorable_Code_Point}\u115f\u1160\u2800\u3164\uffa0]")
CONTROL_OR_FORMAT = regex.compile(r"[\p{Cc}\p{Cf}]")
COMMON_OR_INHERITED = regex.compile(r"[\p{Script=Common}\p{Script=Inherited}]")

# The scripts in modern everyday use (Unicode UAX #31, table 4 "Recommended
# scripts"). Letters of other scripts (historic, or limited-use ones such as
# Cherokee, whose letters copy Latin capitals) are refused.
RECOMMENDED_SCRIPTS = (
    "Arabic",
    "Armenian",
    "Bengali",
    "Bopomofo",
    "Cyrillic",
    "Devanagari",
    "Ethiopic",
    "Georgian",
    "Greek",
    "Gujarati",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hebrew",
    "Hiragana",
    "Kannada",
    "Katakana",
    "Khmer",
    "Lao",
    "Latin",
    "Malayalam",
    "Myanmar",
    "Oriya",
    "Sinhala",
    "Tamil",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
)
_SCRIPT_PATTERNS = {
    name: regex.compile(rf"\p{{Script_Extensions={name}}}") for name in RECOMMENDED_SCRIPTS
}
# Writing systems that mix scripts by nature (UTS #39, "augmented script sets"):
# Japanese writes Han with kana, Korean Han with Hangul, Chinese Han with Bopomofo.
_WRITING_SYSTEMS = {
    "Han": {"Japanese", "Korean", "Chinese"},
    "Hiragana": {"Japanese"},
    "Katakana": {"Japanese"},
    "Hangul": {"Korean"},
    "Bopomofo": {"Chinese"},
}


def canonical_username(username: str) -> str:
    """The form two usernames are compared in (login looks users up by it)."""
    folded = unicodedata.normalize("NFKC", username.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


def _code_points(characters: list[str]) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE, ...``: what an admin can look up and remove."""
    named = (f"U+{ord(c):04X} {unicodedata.name(c, '')}".strip() for c in dict.fromkeys(characters))
    return ", ".join(named)


@cache
def _scripts_of(character: str) -> frozenset[str]:
    """The recommended scripts a letter is written in, widened to writing systems."""
    scripts = {name for name, pattern in _SCRIPT_PATTERNS.items() if pattern.match(character)}
    for name in list(scripts):
        scripts |= _WRITING_SYSTEMS.get(name, set())
    return frozenset(scripts)


def _problems(typed: str, display: str) -> list[str]:
    # Hidden characters are named as typed (NFKC turns some into others).
    if bidi := BIDI_CONTROL.findall(typed):
        return [f"must not contain bidirectional control characters ({_code_points(bidi)})"]
    if invisible := INVISIBLE.findall(typed):
        return [f"must not contain invisible characters ({_code_points(invisible)})"]
    if control := CONTROL_OR_FORMAT.findall(typed):
        return [f"must not contain control or format characters ({_code_points(control)})"]
    problems = []
    canonical = canonical_username(display)
    if not MIN_LENGTH <= len(canonical) <= MAX_LENGTH:
        problems.append(f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long once normalised")
    others = [
        c
        for c in display
        if unicodedata.category(c)[0] not in "LMN" and c not in ALLOWED_PUNCTUATION
    ]
    if others:
        allowed = " ".join(sorted(ALLOWED_PUNCTUATION))
        problems.append(
            f"may contain only letters, digits and {allowed} (not {_code_points(others)})"
        )
        return problems
    letters = [c for c in display if not COMMON_OR_INHERITED.match(c)]
    unscripted = [c for c in letters if not _scripts_of(c)]
    if unscripted:
        problems.append(f"uses a script not allowed in usernames ({_code_points(unscripted)})")
        return problems
    shared: set[str] | None = None
    for c in letters:
        shared = set(_scripts_of(c)) if shared is None else shared & _scripts_of(c)
    if shared is not None and not shared:
        scripts = sorted({min(_scripts_of(c) & set(RECOMMENDED_SCRIPTS)) for c in letters})
        problems.append(f"must not mix scripts ({' and '.join(scripts)})")
    return problems


def check_new_username(username: str) -> str:
    """Return the form to store (NFKC, stripped), or raise 422 naming the problem.

    Only new usernames are checked: login compares canonical forms and lets
    any string through to the same "invalid credentials" answer.
    """
    typed = username.strip()
    display = unicodedata.normalize("NFKC", typed)
    problems = _problems(typed, display)
    if problems:
        raise APIError(
            422,
            "validation_error",
            "The username cannot be used: " + "; ".join(problems),
            details={"username": problems},
        )
    return display
