"""The input models' string rules and the JSON Schema /openapi.json publishes for them say the same thing.

Schemathesis reads a ``pattern`` with ECMA-262 semantics (jsonschema_rs); each field's validator and its documented
pattern must accept exactly the same strings, or the fuzzer finds valid data refused or invalid data accepted.
"""

from __future__ import annotations

import json
import re
from typing import Any

import hypothesis
import jsonschema_rs
import pytest
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from service import schemas
from service.db import models

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
# Any character but a lone surrogate (category Cs), deliberately: the validators refuse one while no pattern can say
# so, and jsonschema_rs cannot even be asked (a Rust string cannot hold one: it raises UnicodeEncodeError).
# Hypothesis leaves Cs out by default; spelled out so that stays true. test_lone_surrogates_are_refused covers them.
ANY_CHARACTER = st.characters(exclude_categories=["Cs"])
TEXT = (
    st.text(st.sampled_from(EDGES), max_size=30)
    | st.text(ANY_CHARACTER, max_size=30)
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


HIGH, LOW = "\ud800", "\udfff"  # the first half of a UTF-16 pair, the second half of one
LONE = [
    HIGH,
    LOW,
    f"Ada {HIGH} Lovelace",
    f" x{LOW}\n",  # found once trimmed too
    "\ude00\ud83d",  # a pair's halves, swapped
    # Two code points in a Python str, never joined: a pair only as JSON escapes (test_an_escaped_pair_...).
    "\ud83d\ude00",
    f"ada{HIGH}@example.com",
    f"ada@example.com{LOW}",
    f"+1555{HIGH}1234",
    f"admin{LOW}",
]


def test_storable_refuses_nul_and_lone_surrogates() -> None:
    for value in ("", "Ada", "\u00e9\u3000\U0001f600"):
        assert schemas.storable(value) == value
    with pytest.raises(ValueError, match="NUL"):
        schemas.storable("a\x00b")
    for value in LONE:
        with pytest.raises(ValueError, match="lone surrogates"):
            schemas.storable(value)


@pytest.mark.parametrize("name", sorted(FIELDS))
@pytest.mark.parametrize("value", LONE, ids=ascii)
def test_lone_surrogates_are_refused(name: str, value: str) -> None:
    """Every string field: the validator refuses what its pattern (see test_validator_...) cannot spell."""
    adapter: TypeAdapter[Any] = TypeAdapter(FIELDS[name])
    with pytest.raises(ValidationError) as refused:
        adapter.validate_python(value, strict=True)
    # Our own message where our validator runs; pydantic's "string_unicode" where a pattern or a length limit makes
    # pydantic-core read the string first (the API turns that into the same message).
    (error,) = refused.value.errors()
    assert error["type"] == "string_unicode" or "lone surrogates" in error["msg"], error


def test_an_escaped_pair_is_one_character() -> None:
    emoji = json.loads('"\\ud83d\\ude00"')
    assert emoji == "\U0001f600"
    user = schemas.UserCreate.model_validate({"email": f"{emoji}@Example.com", "name": f" {emoji} "})
    assert (user.email, user.name) == (f"{emoji}@example.com", emoji)


@pytest.mark.parametrize(
    ("model", "data", "loc"),
    [
        (schemas.UserCreate, {"email": "a@b.co", "name": HIGH}, ("name",)),
        (schemas.UserCreate, {"email": f"a{LOW}@b.co", "name": "x"}, ("email",)),
        (schemas.UserUpdate, {"name": LOW}, ("name",)),
        (schemas.UserUpdate, {"role": f"a{HIGH}"}, ("role",)),
        (schemas.UsersBulk, [{"email": "a@b.co", "name": "x"}, {"email": "c@d.co", "name": HIGH}], (1, "name")),
        (schemas.NotificationCreate, {"type": "email", "message": HIGH, "email_address": "a@b.co"}, None),
        (schemas.NotificationCreate, {"type": "sms", "message": "m", "phone_number": f"123{LOW}"}, None),
        (schemas.ProductCreate, {"name": HIGH, "stock": 1}, ("name",)),
        (schemas.ProductUpdate, {"name": LOW}, ("name",)),
        (schemas.EmailQuery, {"email": HIGH}, ("email",)),
        (schemas.NotificationPageQuery, {"type": HIGH}, ("type",)),
        (schemas.PageQuery, {"page": f"1{HIGH}"}, ("page",)),
    ],
    ids=lambda value: ascii(value)[:40],
)
def test_every_model_refuses_a_lone_surrogate_in_a_string(model: Any, data: Any, loc: tuple[Any, ...] | None) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    (error,) = refused.value.errors()
    if loc is not None:
        assert error["loc"] == loc
    else:  # a tagged union: the tag comes first
        assert error["loc"][-1] in {"message", "phone_number"}


def test_no_pattern_spells_a_surrogate() -> None:
    """Rust's regex cannot: the rule lives in the validators and the fields' descriptions, not in any pattern."""
    for name, field in FIELDS.items():
        schema = TypeAdapter(field).json_schema()
        assert not re.search(r"\\u[dD][89a-fA-F]", schema["pattern"]), name
    for name in ("Name", "Message", "Email"):
        assert schemas.NO_LONE_SURROGATES in TypeAdapter(FIELDS[name]).json_schema()["description"], name


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
