"""Plate normalisation: the vectorised batch encoder agrees with the one-plate normaliser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.plates.codes import OcrClasses, decode_plate, encode_plate, encode_plates
from streams.plates.normalise import PlateError, PlateRejection, normalise_plate, normalise_state

raw_plates = st.one_of(
    st.text(alphabet="ABCxyz0189 -.", max_size=14),
    st.text(max_size=30),  # anything at all, non-ASCII included
    st.text(alphabet="AB1-", min_size=20, max_size=40),  # longer than the raw width
    st.text(alphabet="A1\x00:", max_size=14),  # NUL, which numpy byte strings cannot hold
)


@settings(max_examples=400, deadline=None)
@given(batch=st.lists(raw_plates, min_size=1, max_size=30))
def test_batch_encoder_agrees_with_normaliser(batch: list[str]) -> None:
    encoded = encode_plates(batch, OcrClasses())
    for i, raw in enumerate(batch):
        try:
            plate = normalise_plate(raw)
        except PlateError as exc:
            assert encoded.rejected.get(i) == exc.reason, raw
            assert not encoded.good[i]
            continue
        assert i not in encoded.rejected, raw
        assert encoded.plate(i) == plate
        assert int(encoded.codes[i]) == encode_plate(plate)
        assert int(encoded.folded[i]) == encode_plate(OcrClasses().fold(plate))
        assert decode_plate(int(encoded.codes[i])) == plate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7abc-123", "7ABC123"),
        (" 7 ABC.123 ", "7ABC123"),
        ("АВС123", PlateRejection.NON_ASCII),  # Cyrillic look-alikes are refused, never mapped
        ("ＡＢＣ１２３", PlateRejection.NON_ASCII),  # full-width
        ("ABC_123", PlateRejection.BAD_CHARACTER),
        ("--", PlateRejection.EMPTY),
        ("ABCDEFGHIJK", PlateRejection.TOO_LONG),
    ],
)
def test_normalisation_cases(raw: str, expected: str | PlateRejection) -> None:
    if isinstance(expected, PlateRejection):
        with pytest.raises(PlateError) as caught:
            normalise_plate(raw)
        assert caught.value.reason is expected
    else:
        assert normalise_plate(raw) == expected


def test_state_codes() -> None:
    assert normalise_state(" ca ") == "CA"
    assert normalise_state("") == ""
    for bad in ("CAL", "C1", "Ｃ"):
        with pytest.raises(PlateError):
            normalise_state(bad)


def test_codes_are_unique_across_lengths_and_ocr_classes_fold() -> None:
    plates = ["A", "AA", "AAA", "0", "O", "00", "ZZZZZZZZZZ"]
    assert len({encode_plate(p) for p in plates}) == len(plates)
    assert encode_plate("ZZZZZZZZZZ") < 2**63
    ocr = OcrClasses()
    assert ocr.fold("8OB5") == ocr.fold("B0B5") == ocr.fold("BD85")
    with pytest.raises(ValueError, match="shares a character"):
        OcrClasses(("0O", "O8"))
