"""The input models' string rules and the JSON Schema /openapi.json publishes for them say the same thing.

Schemathesis reads a ``pattern`` with ECMA-262 semantics (jsonschema_rs); each field's validator and its documented
pattern must accept exactly the same strings, or the fuzzer finds valid data refused or invalid data accepted.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from service import schemas
from service.db import models

jsonschema_rs = pytest.importorskip("jsonschema_rs")
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

FIELDS: dict[str, Any] = {
    "Name": schemas.Name,
    "Message": schemas.Message,
    "Email": schemas.Email,
    "Phone": schemas.Phone,
    "Role": schemas.Role,
}
# Characters at the edges of the rules: whitespace that is trimmed and that is not (U+001C, U+FEFF), NUL, the
# characters emails and phones are made of, one that grows when lower-cased (U+0130), one outside the BMP.
EDGES = list(" \t\n\x0b\x00\x1c\x1f\x85\xa0\u2000\u200b\u2028\u3000\ufeffaZ9@.+-()_\u0130\u00e9\U0001f600")
TEXT = (
    st.text(st.sampled_from(EDGES), max_size=30)
    | st.text(max_size=30)
    | st.builds(
        lambda head, length, tail: head + "x" * length + tail,
        st.text(st.sampled_from(EDGES), max_size=4),
        st.sampled_from([0, 1, 17, 18, 19, 48, 49, 50, 243, 249, 250, 253, 254, 255, 256, 1998, 1999, 2000, 2001]),
        st.text(st.sampled_from(EDGES), max_size=4),
    )
    | st.builds(
        lambda local, domain: f"{local}@{domain}",
        st.text(st.sampled_from(EDGES), min_size=1, max_size=250),
        st.text(st.sampled_from(EDGES), min_size=1, max_size=10),
    )
)


def _accepts(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_validator_and_documented_schema_agree(name: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(FIELDS[name])
    documented = jsonschema_rs.Draft4Validator(adapter.json_schema())

    @hypothesis.settings(max_examples=1500, database=None, deadline=None, derandomize=True)
    @hypothesis.given(TEXT)
    def agree(value: str) -> None:
        assert _accepts(adapter, value) is documented.is_valid(value), repr(value)

    agree()


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("Name", " Ada ", True),
        ("Name", "\u3000" * 10 + "x" * models.NAME_LENGTH + "\n", True),  # the limit counts the trimmed name
        ("Name", "x" * (models.NAME_LENGTH + 1), False),
        ("Name", " \t\u2028 ", False),
        ("Name", "\ufeff", True),  # not whitespace to the trimming, nor to the pattern
        ("Name", "a\x00b", False),
        ("Message", "x" * models.MESSAGE_LENGTH, True),
        ("Message", "x" * (models.MESSAGE_LENGTH + 1), False),
        ("Email", " ada@example.com\n", True),
        ("Email", "a\x1cb@example.com", False),  # str.isspace's whitespace, refused inside an address
        ("Email", "ada@example", False),
        ("Email", "a@b@example.com", False),
        ("Email", " " + "a" * 243 + "@example.com", False),  # 256 characters as sent
        ("Email", "a" * 243 + "@example.com", True),
        ("Phone", " +1 (555) 123-4567 ", True),
        ("Phone", "  12  ", False),  # two characters once trimmed
        ("Phone", "++123", False),
        ("Phone", "1" * models.PHONE_LENGTH, True),
        ("Phone", "1" * (models.PHONE_LENGTH + 1), False),
        ("Role", "admin\n", False),
    ],
)
def test_edge_cases(field: str, value: str, accepted: bool) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(FIELDS[field])
    assert _accepts(adapter, value) is accepted
    assert jsonschema_rs.Draft4Validator(adapter.json_schema()).is_valid(value) is accepted


def test_values_are_stored_trimmed_and_emails_lower_cased() -> None:
    user = schemas.UserCreate.model_validate({"email": "\u00a0Ada@Example.COM ", "name": "\tAda Lovelace\u3000"})
    assert (user.email, user.name) == ("ada@example.com", "Ada Lovelace")


def test_an_email_that_outgrows_the_column_when_lower_cased_is_refused() -> None:
    """ "İ" lower-cases to two characters: 255 as sent, 256 stored, which the driver refused with a 500."""
    email = "\u0130" + "a" * 242 + "@example.com"
    assert len(email) == models.EMAIL_LENGTH
    with pytest.raises(ValidationError, match="once lower-cased"):
        schemas.UserCreate.model_validate({"email": email, "name": "x"})
    shorter = email.replace("a", "", 1)
    assert len(schemas.UserCreate.model_validate({"email": shorter, "name": "x"}).email) == models.EMAIL_LENGTH


def test_patches_document_no_null() -> None:
    """An explicit null is refused (absent is how a patch leaves a field alone): the schema must not offer it."""
    for model in (schemas.UserUpdate, schemas.ProductUpdate):
        validator = jsonschema_rs.Draft4Validator(model.model_json_schema())
        for name in model.model_fields:
            assert not validator.is_valid({name: None}), f"{model.__name__}.{name}"
            with pytest.raises(ValidationError, match="may not be null"):
                model.model_validate({name: None})


def test_char_class_is_read_alike() -> None:
    inside = schemas.char_class(schemas.WHITESPACE)
    assert inside.startswith("\\u0009-\\u000d\\u0020")
    regex = re.compile(f"[{inside}]")
    assert [chr(code) for code in range(0x3001) if regex.fullmatch(chr(code))] == sorted(schemas.WHITESPACE)
