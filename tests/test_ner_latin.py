"""Latin-script name/address rules (hand-written sentences, spans checked by hand)."""

from __future__ import annotations

from leakwarden.detect.ner import NameAddressTagger


def _found(text: str) -> set[tuple[str, str]]:
    return {(f.type, f.text) for f in NameAddressTagger.load().tag_latin(text)}


def test_us_letter() -> None:
    text = "Dear John Smith, your parcel goes to 123 Main St, Springfield, IL 62704 tomorrow."
    found = NameAddressTagger.load().tag_latin(text)
    assert [(f.type, f.start, f.end) for f in found] == [
        ("person_name", 5, 15),
        ("address", 37, 71),
    ]
    assert found[1].text == "123 Main St, Springfield, IL 62704"


def test_uk_address_with_postcode_and_label() -> None:
    text = "Name: Emma Watson\nAddress: 10 Downing Street, London SW1A 2AA"
    assert _found(text) == {
        ("person_name", "Emma Watson"),
        ("address", "10 Downing Street, London SW1A 2AA"),
    }


def test_title_and_surname() -> None:
    assert _found("Please call Mr. Johnson tomorrow.") == {("person_name", "Johnson")}


def test_apartment_line() -> None:
    text = "Ship to 4512 Oak Avenue Apt 5B, Denver, CO 80203"
    assert _found(text) == {("address", "4512 Oak Avenue Apt 5B, Denver, CO 80203")}


def test_capitalised_words_that_are_not_names() -> None:
    assert _found("The Quarterly Report was sent to Finance on Monday.") == set()
    assert _found("ERROR 2024-01-01 Connection Timeout after 30s") == set()


def test_unlisted_accented_name_after_a_strong_context_word() -> None:
    assert _found("Dear José Álvarez, thank you.") == {("person_name", "José Álvarez")}
    # a weak context word ("from") is not enough for names outside the lists
    assert _found("Invoice from Acme Corp today") == set()


def test_australian_unit_and_state_postcode() -> None:
    text = "Deliver to 12/34 George Street, Sydney, NSW, 2000 please"
    assert _found(text) == {("address", "12/34 George Street, Sydney, NSW, 2000")}


def test_pathological_runs_finish() -> None:
    # Unbounded letter runs once made these quadratic (minutes for 90 kB); now they are linear.
    for text in ("O'B" * 10000, "Aaaa-Bbbb-Cccc " * 2000, "A. " * 10000, "Aaaa " * 6000):
        assert _found(text) == set()
