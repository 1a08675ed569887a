"""Plates as 64-bit integers, encoded a batch at a time with numpy.

A plate of up to 10 characters from A-Z0-9 is a base-37 number whose digits are 1..36 (never 0), so
every plate has exactly one code, its length is its number of digits, and 37**10 < 2**63.
The last characters sit in the low bits: plates that differ only near the end share the high 48
bits, so a roaring bitmap keeps them in one container. (Padding short plates on the right instead
puts nearly every plate in a container of its own: 1.1 GB instead of 61 MB for 10 million.)
The OCR-folded code replaces every character by the representative of its look-alike class
(default 0/O/D/Q, 1/I, 8/B, 5/S, 2/Z, 6/G) before encoding: two plates of equal length whose
folded codes are equal differ only by look-alike characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from streams.plates.normalise import MAX_PLATE_LENGTH, PlateError, PlateRejection, normalise_plate

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
BASE = 37
DEFAULT_OCR_CLASSES: tuple[str, ...] = ("0ODQ", "1I", "8B", "5S", "2Z", "6G")

# raw plates wider than this are refused before normalisation (a plate plus generous separators)
_RAW_WIDTH = 24
_PAD, _SEP, _BAD = 0, 254, 255

Codes = npt.NDArray[np.uint64]

# weight of each position in a left-aligned digit row of a full-length plate
POWERS: Codes = np.array([BASE ** (MAX_PLATE_LENGTH - 1 - i) for i in range(MAX_PLATE_LENGTH)], np.uint64)
# dividing a left-aligned value by SHIFT_DOWN[length] right-aligns a plate of that length
SHIFT_DOWN: Codes = np.array([BASE ** (MAX_PLATE_LENGTH - n) for n in range(MAX_PLATE_LENGTH + 1)], np.uint64)
DIGIT = {ch: i + 1 for i, ch in enumerate(ALPHABET)}
_PAIR_BASE = BASE * BASE
_SINGLES = ["", *ALPHABET]
_CHUNKS = [_SINGLES[p // BASE] + _SINGLES[p % BASE] for p in range(_PAIR_BASE)]


def _value_lut() -> npt.NDArray[np.uint8]:
    lut = np.full(256, _BAD, np.uint8)
    lut[0] = _PAD
    for ch, v in DIGIT.items():
        lut[ord(ch)] = v
        lut[ord(ch.lower())] = v
    for ch in " -.":
        lut[ord(ch)] = _SEP
    return lut


_VALUE_LUT = _value_lut()
_HAS_SEP, _HAS_BAD = np.uint8(1), np.uint8(2)


def _flag_lut() -> npt.NDArray[np.uint8]:
    flags = np.zeros(256, np.uint8)
    flags[_VALUE_LUT == _SEP] = _HAS_SEP
    flags[_VALUE_LUT == _BAD] = _HAS_BAD
    return flags


_FLAG_LUT = _flag_lut()  # byte -> is it a separator, or a byte no plate may hold


@dataclass(frozen=True)
class OcrClasses:
    """Look-alike character classes. Each class folds onto its first character."""

    classes: tuple[str, ...] = DEFAULT_OCR_CLASSES
    fold_lut: npt.NDArray[np.uint8] = field(init=False, repr=False, compare=False)
    members: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        lut = np.arange(BASE, dtype=np.uint8)
        members: dict[str, str] = {}
        for cls in self.classes:
            if len(cls) < 2 or any(ch not in DIGIT for ch in cls):
                raise ValueError(f"OCR class {cls!r} must have two or more characters from A-Z0-9")
            if seen & set(cls):
                raise ValueError(f"OCR class {cls!r} shares a character with another class")
            seen |= set(cls)
            for ch in cls:
                lut[DIGIT[ch]] = DIGIT[cls[0]]
                members[ch] = cls
        object.__setattr__(self, "fold_lut", lut)
        object.__setattr__(self, "members", members)

    def fold_char(self, ch: str) -> str:
        cls = self.members.get(ch)
        return cls[0] if cls else ch

    def fold(self, plate: str) -> str:
        return "".join(self.fold_char(ch) for ch in plate)


def encode_plate(plate: str) -> int:
    """Code of one canonical plate (see `plates.normalise_plate`)."""
    code = 0
    for ch in plate:
        code = code * BASE + DIGIT[ch]
    return code


def decode_plate(code: int) -> str:
    """The plate of a code, two characters at a time (a leading lone character decodes the same)."""
    chunks = []
    while code:
        code, pair = divmod(code, _PAIR_BASE)
        chunks.append(_CHUNKS[pair])
    return "".join(reversed(chunks))


def encode_canonical(plates: Sequence[str]) -> Codes:
    """Codes of plates already canonical (as `plates.normalise_plate` returns them), vectorised."""
    if not plates:
        return np.zeros(0, np.uint64)
    digits = _VALUE_LUT[np.array(plates, dtype=f"S{MAX_PLATE_LENGTH}").view(np.uint8).reshape(len(plates), -1)]
    return digits_to_codes(digits, (digits != _PAD).sum(axis=1))


def digits_to_codes(digits: npt.NDArray[np.uint8], lengths: npt.NDArray[np.intp]) -> Codes:
    """Codes of left-aligned digit rows (values 1..36, 0 after the plate's end)."""
    left = digits.astype(np.uint64) @ POWERS
    return left // SHIFT_DOWN[np.minimum(lengths, MAX_PLATE_LENGTH)]


def codes_to_digits(codes: Codes) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.intp]]:
    """Left-aligned digit rows and lengths of codes: the inverse of `digits_to_codes`."""
    right = np.zeros((len(codes), MAX_PLATE_LENGTH), np.uint8)
    rest = codes.copy()
    for i in range(MAX_PLATE_LENGTH - 1, -1, -1):
        right[:, i] = (rest % np.uint64(BASE)).astype(np.uint8)
        rest //= np.uint64(BASE)
    lengths = (right != 0).sum(axis=1).astype(np.intp)
    left = np.zeros_like(right)
    for n in range(1, MAX_PLATE_LENGTH + 1):
        rows = lengths == n
        left[rows, :n] = right[rows, MAX_PLATE_LENGTH - n :]
    return left, lengths


@dataclass
class EncodedPlates:
    """A batch of plates as codes; `rejected` maps the index of each refused plate to its reason.

    Codes of refused plates are 0. Canonical plate strings are made on demand (`plate(i)`): only
    hits and dead letters need them, and building a string per read would dominate the batch cost.
    """

    digits: npt.NDArray[np.uint8]
    lengths: npt.NDArray[np.intp]
    codes: Codes
    folded: Codes
    good: npt.NDArray[np.bool_]
    rejected: dict[int, PlateRejection]

    def plate(self, i: int) -> str:
        if not self.good[i]:
            return ""
        return ALPHABET_TABLE[self.digits[i, : self.lengths[i]]].tobytes().decode()

    def __len__(self) -> int:
        return len(self.codes)


def _scalar_reason(raw: str) -> PlateRejection:
    try:
        normalise_plate(raw)
    except PlateError as exc:
        return exc.reason
    raise AssertionError("a plate holding NUL cannot be valid")


def encode_plates(raw: Sequence[str], ocr: OcrClasses) -> EncodedPlates:
    """Normalise and encode a batch of raw plates, vectorised.

    Agrees with `plates.normalise_plate` on every input: the same plates are refused for the same
    reasons, and `plate(i)` is the canonical plate.
    """
    n = len(raw)
    rejected: dict[int, PlateRejection] = {}
    # as wide as the batch's longest raw plate (7 or 8 characters as a rule), at least a plate's
    # digits and at most the widest raw plate kept: every step below is a pass over this matrix
    width = max(MAX_PLATE_LENGTH, min(max(map(len, raw), default=0), _RAW_WIDTH))
    try:
        matrix = np.array(raw, dtype=f"S{width}").view(np.uint8).reshape(n, width)
    except UnicodeEncodeError:
        safe = []
        for i, p in enumerate(raw):
            if p.isascii():
                safe.append(p)
            else:
                safe.append("")
                rejected[i] = PlateRejection.NON_ASCII
        matrix = np.array(safe, dtype=f"S{width}").view(np.uint8).reshape(n, width)
    if "\0" in "".join(raw):  # numpy's byte strings cannot hold NUL: the one-plate path decides
        for k, p in enumerate(raw):
            if "\0" in p:
                rejected.setdefault(k, _scalar_reason(p))
    values = _VALUE_LUT[matrix]
    flags = np.bitwise_or.reduce(_FLAG_LUT[matrix], axis=1)  # one pass: separators? bad bytes?
    # numpy truncates silently at the dtype width: a raw plate that fills it may have been cut
    full = matrix[:, -1] != 0
    if full.any():
        for k in np.flatnonzero(full).tolist():
            if len(raw[k]) > width:
                rejected.setdefault(k, PlateRejection.TOO_LONG)
    if (flags & _HAS_SEP).any():
        for k in np.flatnonzero(flags & _HAS_SEP).tolist():
            row = values[k]
            kept = row[(row != _SEP) & (row != _PAD)]
            values[k] = _PAD
            values[k, : len(kept)] = kept
    lengths = (values != _PAD).sum(axis=1)
    bad = (flags & _HAS_BAD) != 0
    for k in np.flatnonzero(bad | (lengths == 0) | (lengths > MAX_PLATE_LENGTH)).tolist():
        # the order of plates.normalise_plate: empty, too long, then a bad character
        if lengths[k] == 0:
            reason = PlateRejection.EMPTY
        elif lengths[k] > MAX_PLATE_LENGTH:
            reason = PlateRejection.TOO_LONG
        else:
            reason = PlateRejection.BAD_CHARACTER
        rejected.setdefault(k, reason)
    good = np.ones(n, np.bool_)
    if rejected:
        good[list(rejected)] = False
    digits = values[:, :MAX_PLATE_LENGTH]
    if rejected:
        digits = np.where(good[:, None], digits, 0).astype(np.uint8)
    lengths = np.where(good, lengths, 0)
    codes = digits_to_codes(digits, lengths)
    folded = digits_to_codes(ocr.fold_lut[digits], lengths)
    return EncodedPlates(digits, lengths, codes, folded, good, rejected)


ALPHABET_TABLE: npt.NDArray[np.uint8] = np.frombuffer(b"\0" + ALPHABET.encode(), np.uint8)
