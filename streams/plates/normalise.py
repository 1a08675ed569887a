"""Plate and plate-state normalisation: one plate at a time, for loaders, the CLI and updates.

A plate is upper-case ASCII letters and digits, 1 to 10 of them, after spaces, dashes and dots are
removed. Anything else is refused with a reason. A look-alike from another script (a Cyrillic `А`, a
full-width `Ａ`) is refused, never mapped: mapping it would silently widen a match.
The vectorised twin of `normalise_plate` is `plate_codes.encode_plates`; tests keep them in step.
"""

from __future__ import annotations

import enum

MAX_PLATE_LENGTH = 10
SEPARATORS = " -."
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_STRIP = str.maketrans("", "", SEPARATORS)


class PlateRejection(enum.StrEnum):
    """Why a plate or state was refused. Values are bounded: they are safe as metric labels."""

    EMPTY = "plate_empty"
    TOO_LONG = "plate_too_long"
    NON_ASCII = "plate_non_ascii"
    BAD_CHARACTER = "plate_bad_character"
    BAD_STATE = "state_invalid"


class PlateError(ValueError):
    def __init__(self, reason: PlateRejection, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason


def normalise_plate(raw: str) -> str:
    """Return the canonical plate for `raw`, or raise `PlateError` saying why it is not one."""
    if not raw.isascii():
        raise PlateError(PlateRejection.NON_ASCII, "plate has a character outside ASCII")
    plate = raw.upper().translate(_STRIP)
    if not plate:
        raise PlateError(PlateRejection.EMPTY, "plate is empty")
    if len(plate) > MAX_PLATE_LENGTH:
        raise PlateError(PlateRejection.TOO_LONG, f"plate has {len(plate)} characters, at most 10")
    if not _ALPHABET.issuperset(plate):
        raise PlateError(PlateRejection.BAD_CHARACTER, "plate has a character other than A-Z, 0-9")
    return plate


def normalise_state(raw: str | None) -> str:
    """Return a two-letter upper-case state or region code, or "" when none is given."""
    if raw is None:
        return ""
    state = raw.strip().upper()
    if state == "":
        return ""
    if len(state) != 2 or not state.isascii() or not state.isalpha():
        raise PlateError(PlateRejection.BAD_STATE, "plate state must be two letters or empty")
    return state
