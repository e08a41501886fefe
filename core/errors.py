"""Errors whose message is written for the person who gave the input.

:class:`UserError` marks input the user can fix (a file that does not read, a number out of range): its
message says what was wrong with *their* input and what to do, without class names, server paths or
Python reprs, so the app shows it as it is. Any other exception is a fault of the program: the app logs
it and shows a generic sentence. ``UserError`` is a ``ValueError``, so ``except ValueError`` still
catches it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["UserError", "choices_text"]


class UserError(ValueError):
    """Input the user can correct; the message is shown to them as it is."""


def choices_text(choices: Iterable, *, last: str = "or") -> str:
    """``"a, b or c"``: choices joined for a sentence (``str`` of each, in the given order)."""
    items = [str(choice) for choice in choices]
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"
