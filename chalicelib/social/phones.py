"""Phone numbers as people write them, read with libphonenumber's metadata (``phonenumbers``).

Imported only on the phone and contacts routes: the metadata costs import time that the rest of
the API should not pay (``phonenumberslite``: the same parser without geocoding/carrier data).
"""

from __future__ import annotations

import phonenumbers

MAX_RAW_CHARS = 64  # longer strings are not phone numbers (and are skipped unparsed)


def known_region(region: str) -> str | None:
    """The ISO 3166-1 alpha-2 code in upper case when libphonenumber knows it, else None."""
    upper = region.upper()
    return upper if upper in phonenumbers.SUPPORTED_REGIONS else None


def to_e164(raw: str, region: str | None) -> str | None:
    """The E.164 form of a valid number, or None.

    National numbers ("(212) 555-0123", "020 7946 0000") are read in ``region``; international
    ones ("+44 20 7946 0000", "+44 (0)20 7946 0000") need none; international prefixes
    ("0044 …" from GB, "011 44 …" from the US) are those of ``region``. Without a region only
    numbers starting with "+" can be read.
    """
    if not raw or len(raw) > MAX_RAW_CHARS:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def region_of(e164: str) -> str | None:
    """The region a valid E.164 number belongs to ("+44 20…" → "GB")."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    return str(region) if region and region != "ZZ" else None
