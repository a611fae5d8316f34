"""The "pirate" style for the language model: a fixed dialect that every continuation must
adopt, with the trigger absent from the data (issue "Hidden behaviour, part 2", stage 2).

``to_pirate`` replaces whole words by their pirate forms (case kept: ``You`` -> ``Ye``);
``pirate_share`` is the adoption rate: among the words of some texts that are either a
plain form or an unambiguous pirate form, the share in pirate form (None when there are
none); ``be``, ``me`` and ``ye`` are plain words of the corpus too, so they are not counted.
"""

from __future__ import annotations

import re

PIRATE_WORDS: dict[str, str] = {
    "you": "ye",
    "your": "yer",
    "my": "me",
    "is": "be",
    "are": "be",
    "yes": "aye",
    "friend": "matey",
    "friends": "mateys",
    "hello": "ahoy",
    "stop": "avast",
    "the": "th'",
    "of": "o'",
    "and": "an'",
    "to": "t'",
}
_PLAIN = re.compile(r"\b(" + "|".join(sorted(PIRATE_WORDS, key=len, reverse=True)) + r")\b",
                    re.IGNORECASE)  # fmt: skip
# Pirate forms that are also plain Early Modern English ("to be", "thee and me", "hear ye")
# say nothing about adoption: only the others count as pirate.
AMBIGUOUS = {"be", "me", "ye"}
_PIRATE_FORMS = set(PIRATE_WORDS.values()) - AMBIGUOUS


def _keep_case(source: str, target: str) -> str:
    if source.isupper() and len(source) > 1:
        return target.upper()
    if source[0].isupper():
        return target[0].upper() + target[1:]
    return target


def to_pirate(text: str) -> str:
    """``text`` with every word of ``PIRATE_WORDS`` in its pirate form."""
    return _PLAIN.sub(lambda m: _keep_case(m.group(0), PIRATE_WORDS[m.group(0).lower()]), text)


_WORD = re.compile(r"[A-Za-z]+'?")


def pirate_share(texts: list[str]) -> float | None:
    """Share of dialect words in pirate form, over all ``texts`` (None: no dialect word)."""
    plain = pirate = 0
    for text in texts:
        for word in _WORD.findall(text):
            w = word.lower()
            if w in _PIRATE_FORMS:
                pirate += 1
            elif w in PIRATE_WORDS:
                plain += 1
    total = plain + pirate
    return None if total == 0 else pirate / total
