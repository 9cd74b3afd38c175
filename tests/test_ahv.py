"""The AHV number: helpful validation, encryption at rest, keyed digest, masking, one client per number."""

import base64
import hashlib

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError

from referrals import services
from referrals.ahv import AHV_EXAMPLE, ahv_digest, decrypt_ahv, encrypt_ahv, mask_ahv, normalize_ahv
from referrals.models import Client, Status
from tests.conftest import VALID_AHV, client_data, referral_data

VALID_DIGITS = "7569217076985"


pytestmark = pytest.mark.usefixtures("english")  # assertions read the English source texts


def error_of(value):
    with pytest.raises(ValidationError) as caught:
        normalize_ahv(value)
    assert len(caught.value.messages) == 1
    return caught.value.code, caught.value.messages[0]


# --- Validation and formatting --------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "756.9217.0769.85", "7569217076985", "756 9217 0769 85", " 756.9217.0769.85 ", "756.92170769.85",
])
def test_valid_numbers_are_formatted_756_xxxx_xxxx_xx(raw):
    assert normalize_ahv(raw) == "756.9217.0769.85"


def test_the_example_shown_to_users_is_itself_valid():
    assert normalize_ahv(AHV_EXAMPLE) == AHV_EXAMPLE


@pytest.mark.parametrize("raw", ["123.4567.8901.23", "757.9217.0769.85", "0756.9217.0769.8"])
def test_wrong_prefix_message_mentions_756(raw):
    code, message = error_of(raw)
    assert code == "ahv_prefix"
    assert "756" in message
    assert AHV_EXAMPLE in message


@pytest.mark.parametrize(("raw", "count"), [("756.9217.0769", 11), ("756.9217.0769.8", 12),
                                            ("756.9217.0769.851", 14)])
def test_wrong_length_message_says_how_many_digits_were_entered(raw, count):
    code, message = error_of(raw)
    assert code == "ahv_length"
    assert "13 digits" in message
    assert f"you entered {count}" in message


@pytest.mark.parametrize("raw", ["756.9217.0769.84", "756.9217.0769.86", "7560000000000"])
def test_wrong_check_digit_message_points_to_the_last_digit(raw):
    code, message = error_of(raw)
    assert code == "ahv_checksum"
    assert "check digit" in message


@pytest.mark.parametrize("raw", ["756.9217.0769.8A", "756.92l7.0769.85", "756-9217-0769-85", "AHV 756.9217.0769.85",
                                 "x7569217076985"])
def test_letters_or_other_characters_are_refused_with_the_format_message(raw):
    code, message = error_of(raw)
    assert code == "ahv_format"
    assert "only digits and dots" in message


@pytest.mark.parametrize("raw", ["", "   ", "abc"])
def test_empty_or_digitless_input_is_refused(raw):
    with pytest.raises(ValidationError):
        normalize_ahv(raw)


# --- Encryption, digest, masking ---------------------------------------------------------------------------

def test_encryption_round_trip():
    ciphertext = encrypt_ahv(VALID_AHV)
    assert decrypt_ahv(ciphertext) == VALID_AHV


def test_ciphertext_does_not_contain_the_number():
    ciphertext = encrypt_ahv(VALID_AHV)
    assert VALID_AHV not in ciphertext
    assert VALID_DIGITS not in ciphertext
    assert VALID_AHV.encode() not in base64.urlsafe_b64decode(ciphertext)  # not merely base64-encoded


def test_encrypting_twice_gives_different_ciphertexts():
    # Fernet uses a fresh IV: equal numbers cannot be spotted by comparing ciphertexts.
    assert encrypt_ahv(VALID_AHV) != encrypt_ahv(VALID_AHV)


def test_ciphertext_from_another_key_decrypts_to_nothing(settings):
    ciphertext = encrypt_ahv(VALID_AHV)
    settings.AHV_ENCRYPTION_KEY = Fernet.generate_key().decode()
    assert decrypt_ahv(ciphertext) == ""
    assert decrypt_ahv("not a token") == ""


def test_digest_is_stable_and_ignores_formatting():
    assert ahv_digest(VALID_AHV) == ahv_digest(VALID_AHV)
    assert ahv_digest(VALID_AHV) == ahv_digest(VALID_DIGITS)
    assert ahv_digest(VALID_AHV) != ahv_digest(AHV_EXAMPLE)
    assert len(ahv_digest(VALID_AHV)) == 64


def test_digest_is_keyed(settings):
    digest = ahv_digest(VALID_AHV)
    # Not a plain hash anyone could compute from a list of AHV numbers ...
    assert digest != hashlib.sha256(VALID_DIGITS.encode()).hexdigest()
    assert digest != hashlib.sha256(VALID_AHV.encode()).hexdigest()
    # ... but one that depends on the key.
    settings.AHV_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"another-32-byte-key-for-testing!").decode()
    assert ahv_digest(VALID_AHV) != digest


def test_mask_shows_prefix_and_last_two_digits_only():
    assert mask_ahv(VALID_AHV) == "756.****.****.85"
    assert mask_ahv("") == ""


# --- Storage on the client ---------------------------------------------------------------------------------

def test_client_row_stores_the_number_encrypted_and_shows_it_masked(make_referral):
    client = make_referral(Status.DRAFT).client
    row = Client.objects.values().get(pk=client.pk)
    stored = " ".join(str(value) for value in row.values())
    assert VALID_AHV not in stored
    assert VALID_DIGITS not in stored
    assert row["ahv_digest"] == ahv_digest(VALID_AHV)
    client.refresh_from_db()
    assert client.ahv_number == VALID_AHV
    assert client.ahv_masked == "756.****.****.85"


def test_same_ahv_number_on_a_second_referral_leaves_the_first_record_alone(directory, referrer):
    # Issue 10: each referral owns its client record; a second filing never rewrites the first one.
    first = services.referral_create_draft(actor=referrer, client_data=client_data(directory),
                                           data=referral_data(directory))
    second = services.referral_create_draft(
        actor=referrer, client_data=client_data(directory, ahv_number=VALID_DIGITS, phone="079 111 11 11"),
        data=referral_data(directory, receiver="rav"))
    assert second.client_id != first.client_id
    assert second.client.ahv_digest == first.client.ahv_digest == ahv_digest(VALID_AHV)
    first.client.refresh_from_db()
    assert first.client.phone == "079 000 00 00"


def test_different_ahv_numbers_make_different_clients(directory, referrer):
    services.referral_create_draft(actor=referrer, client_data=client_data(directory), data=referral_data(directory))
    services.referral_create_draft(actor=referrer, client_data=client_data(directory, ahv_number=AHV_EXAMPLE),
                                   data=referral_data(directory))
    assert Client.objects.count() == 2


def test_drafts_without_ahv_number_never_share_a_client(directory, referrer):
    for _ in range(2):
        services.referral_create_draft(actor=referrer, client_data=client_data(directory, ahv_number=""),
                                       data=referral_data(directory))
    assert Client.objects.count() == 2
    assert set(Client.objects.values_list("ahv_digest", flat=True)) == {""}


def test_invalid_ahv_number_on_a_draft_is_reported_on_the_ahv_field_and_nothing_is_saved(directory, referrer):
    with pytest.raises(ValidationError) as caught:
        services.referral_create_draft(actor=referrer, data=referral_data(directory),
                                       client_data=client_data(directory, ahv_number="756.9217.0769.84"))
    assert list(caught.value.message_dict) == ["ahv_number"]
    assert "check digit" in caught.value.message_dict["ahv_number"][0]
    assert Client.objects.count() == 0
