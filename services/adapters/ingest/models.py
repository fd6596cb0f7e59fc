"""Building blocks the agencies' native-format models share, with their validation rules.

Every field carries a description and an example, so each adapter's OpenAPI page documents
every field. `example_of(Model)` assembles a whole example from the field examples, so model
examples never drift from field examples.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from services.adapters.ingest.vocab import ConcernCode, ConsentStatus, RiskLevel
from services.hubkit.linkage import is_valid_nhs_number, normalise_nhs_number

__all__ = [
    "CodedValueError",
    "ConcernIn",
    "ConsentIn",
    "ContactPointIn",
    "FamilyInformedIn",
    "FlexibleDate",
    "NativeModel",
    "NhsNumber",
    "PersonIn",
    "PersonName",
    "Postcode",
    "RecordRule",
    "RiskIn",
    "as_error_line",
    "check_nhs_number",
    "check_person_name",
    "example_of",
    "normalise_postcode",
    "parse_flexible_date",
]


class CodedValueError(ValueError):
    """A validation failure with a stable machine code for the field-level error.

    `field` names the offending field when a model-level check raises it, so the pointer
    points at that field rather than at the enclosing object: a name, or a path of names
    into a nested object (("subject", "school_urn")).
    """

    def __init__(
        self, code: str, message: str, *, field: str | tuple[str | int, ...] | None = None
    ) -> None:
        self.code = code
        self.field = field
        super().__init__(message)


def check_nhs_number(raw: str) -> str:
    """The 10 digits of an NHS number written with any spaces or hyphens; CodedValueError
    (nhs_number_format / nhs_number_checksum) otherwise. Every adapter's one check."""
    digits = normalise_nhs_number(raw)
    if len(digits) != 10 or re.fullmatch(r"[\d\s-]+", raw.strip()) is None:
        raise CodedValueError("nhs_number_format", "NHS number must be 10 digits.")
    if not is_valid_nhs_number(raw):
        raise CodedValueError("nhs_number_checksum", "NHS number fails the modulus-11 check digit.")
    return digits


# Long enough for any spacing of 10 digits an agency system writes ("999 123 4551"); the bound
# is checked before the format, so an oversized value is refused without being scanned.
NhsNumber = Annotated[str, StringConstraints(max_length=16), AfterValidator(check_nhs_number)]
"""A 10-digit NHS number; spaces and hyphens allowed on input; modulus-11 checked."""

# Bidirectional formatting controls (embeddings, overrides, isolates, LRM/RLM). In a name they
# make what staff read differ from what is stored and matched (a "Trojan Source" spoof), and no
# real name needs them: scripts render right-to-left without explicit marks.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_person_name(raw: str) -> str:
    """Refuse control characters (C0, DEL, C1) and Unicode bidi controls in a person's name.

    A name is shown to practitioners and used for linkage: control characters break display,
    logs and CSV exports, and bidi controls can disguise one name as another. The message
    never repeats the value (it is personal data).
    """
    for char in raw:
        if char in _BIDI_CONTROLS:
            raise CodedValueError(
                "name_bidi_control", "Name contains a Unicode bidirectional control character."
            )
        if unicodedata.category(char) == "Cc":
            raise CodedValueError("name_control_character", "Name contains a control character.")
    return raw


PersonName = Annotated[str, AfterValidator(check_person_name)]
"""A free-text person name: no control characters and no Unicode bidi controls."""

_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


def normalise_postcode(raw: str) -> str:
    """Upper case, one space; raises CodedValueError when not a UK postcode shape."""
    compact = re.sub(r"\s+", " ", raw.strip().upper())
    match = _POSTCODE.fullmatch(compact)
    if match is None:
        raise CodedValueError("postcode_format", "Postcode is not a UK postcode (e.g. ZZ1 1AA).")
    return f"{match.group(1)} {match.group(2)}"


Postcode = Annotated[str, StringConstraints(max_length=16), AfterValidator(normalise_postcode)]
"""A full UK postcode, normalised to upper case with one space; only its district is kept."""


def parse_flexible_date(raw: Any) -> Any:
    """Accept ISO dates and the dd/mm/yyyy form DfE returns use; leave others to pydantic."""
    if isinstance(raw, str):
        text = raw.strip()
        match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        if match:
            day, month, year = (int(g) for g in match.groups())
            try:
                return dt.date(year, month, day)
            except ValueError:
                raise CodedValueError("date_invalid", "Date does not exist.") from None
        return text
    return raw


FlexibleDate = Annotated[dt.date, BeforeValidator(parse_flexible_date)]
"""A date as YYYY-MM-DD or DD/MM/YYYY."""


RecordRule = Callable[[Any], Iterator[CodedValueError]]
"""A check across fields of one record (issue 21): yields every problem it finds. It reads
the record's fields as attributes; when one it reads did not validate, the rule stops there
(that field's own error is reported instead)."""


class _FieldInvalid(Exception):
    """A field a record rule reads did not validate (its own error is already reported)."""


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    if not info.metadata:
        return TypeAdapter(info.annotation)
    return TypeAdapter(Annotated[info.annotation, *info.metadata])


class _ValidFields:
    """The fields of a record that validated on their own, for the record rules to read
    when another field of the same record did not: so one response names every problem."""

    def __init__(self, model: type[BaseModel], data: Mapping[str, Any]) -> None:
        self._model = model
        self._data = data

    def __getattr__(self, name: str) -> Any:
        info = self._model.model_fields.get(name)
        if info is None:
            return getattr(self._model, name)  # a class attribute, e.g. a ClassVar
        key = info.alias or name
        if key not in self._data:
            if info.is_required():
                raise _FieldInvalid(name)
            return info.get_default(call_default_factory=True)
        try:
            return _field_adapter(self._model, name).validate_python(self._data[key])
        except ValidationError:
            raise _FieldInvalid(name) from None


def _rule_problems(rules: Sequence[RecordRule], record: Any) -> list[CodedValueError]:
    problems: list[CodedValueError] = []
    for rule in rules:
        try:
            problems.extend(rule(record))
        except _FieldInvalid:
            continue
    return problems


def as_error_line(error: Mapping[str, Any]) -> InitErrorDetails:
    """A pydantic error as reported (`ValidationError.errors()`), to be raised again together
    with further problems found beside it."""
    line = InitErrorDetails(type=error["type"], loc=tuple(error["loc"]), input=error["input"])
    if "ctx" in error:
        line["ctx"] = error["ctx"]
    try:
        ValidationError.from_exception_data("check", [line])
    except (KeyError, TypeError, ValueError):  # a custom error type: keep its code and message
        return InitErrorDetails(
            type=PydanticCustomError(str(error["type"]), str(error["msg"])),
            loc=tuple(error["loc"]),
            input=error["input"],
        )
    return line


class NativeModel(BaseModel):
    """Base for native-format models: unknown fields are errors, so typos are caught.

    Checks across fields are `record_rules` rather than "after" validators: pydantic runs an
    after validator only once every field is valid, so a record with a bad field and a broken
    rule would report one, then the other after the fix (issue 21). The rules run on the
    fields that did validate, and every problem comes back in one answer.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    record_rules: ClassVar[tuple[RecordRule, ...]] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            record = handler(data)
        except ValidationError as failed:
            if not cls.record_rules or not isinstance(data, Mapping):
                raise
            problems = _rule_problems(cls.record_rules, _ValidFields(cls, data))
            if not problems:
                raise
            lines = [as_error_line(e) for e in failed.errors(include_url=False)]
            raise ValidationError.from_exception_data(
                failed.title, [*lines, *(_problem_line(p, data) for p in problems)]
            ) from None
        problems = _rule_problems(cls.record_rules, record)
        if problems:
            raise ValidationError.from_exception_data(
                cls.__name__, [_problem_line(p, data) for p in problems]
            )
        return record


def _problem_line(problem: CodedValueError, data: Any) -> InitErrorDetails:
    return InitErrorDetails(type="value_error", loc=(), input=data, ctx={"error": problem})


def _field_example(info: FieldInfo) -> Any:
    if info.examples:
        return info.examples[0]
    raise TypeError(f"field without an example: {info!r}")


def example_of(model: type[BaseModel], **overrides: Any) -> dict[str, Any]:
    """An example document for `model`, assembled from its fields' first examples."""
    example = {
        (info.alias or name): _field_example(info) for name, info in model.model_fields.items()
    }
    example.update(overrides)
    return example


class ConsentIn(NativeModel):
    """Consent status, and why it was not sought (DfE golden rule 3: consent is not needed,
    and should not be the default basis, when a child is at risk of harm)."""

    status: ConsentStatus = Field(
        description="Consent status: NOT_SOUGHT, GIVEN, REFUSED or NOT_REQUIRED.",
        examples=["NOT_SOUGHT"],
    )
    reason_not_sought: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Why consent was not sought; required when status is NOT_SOUGHT.",
        examples=["Seeking consent could place the child at increased risk of harm."],
    )

    def _reason_when_not_sought(self) -> Iterator[CodedValueError]:
        if self.status is ConsentStatus.NOT_SOUGHT and not self.reason_not_sought:
            yield CodedValueError(
                "reason_required",
                "reason_not_sought is required when consent status is NOT_SOUGHT (rule R1).",
                field="reason_not_sought",
            )

    record_rules = (_reason_when_not_sought,)


class FamilyInformedIn(NativeModel):
    """Whether the family was told about this information being shared, and if not, why."""

    informed: bool = Field(description="True when the family has been told.", examples=[False])
    reason_not_informed: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description=(
            "Why the family was not told; required when informed is false, refused when true."
        ),
        examples=["Telling the family could put the child at risk."],
    )

    def _reason_when_not_informed(self) -> Iterator[CodedValueError]:
        if not self.informed and not self.reason_not_informed:
            yield CodedValueError(
                "reason_required",
                "reason_not_informed is required when the family was not informed (rule R1).",
                field="reason_not_informed",
            )
        if self.informed and self.reason_not_informed:
            # Refused rather than dropped: the notice carries a reason only when the family
            # was not told, so this text would be accepted and lost (issue 21).
            yield CodedValueError(
                "unexpected_field",
                "reason_not_informed must be empty when the family was informed",
                field="reason_not_informed",
            )

    record_rules = (_reason_when_not_informed,)


class ContactPointIn(NativeModel):
    """A team or role to contact, never a person's private details."""

    role: str = Field(
        min_length=1,
        max_length=200,
        description="Role or team to contact.",
        examples=["Public protection unit, referrals desk"],
    )
    organisation: str = Field(
        min_length=1,
        max_length=200,
        description="Organisation name.",
        examples=["Synthetic Constabulary"],
    )
    telephone: str = Field(
        min_length=5,
        max_length=40,
        pattern=r"^[0-9 +()-]+$",
        description="Team or switchboard telephone number.",
        examples=["0300 000 0100"],
    )
    secure_email: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Secure team mailbox, when there is one.",
        examples=["ppu.referrals@synthetic-police.example"],
    )


class PersonIn(NativeModel):
    """A referrer or third party; their identity is masked outside the MASH (rule R14)."""

    role: str = Field(
        min_length=1,
        max_length=100,
        description="Relationship to the child or professional role.",
        examples=["neighbour"],
    )
    name: PersonName | None = Field(
        default=None,
        max_length=200,
        description="Name, when given (synthetic data only in this project).",
        examples=["Sam Example"],
    )
    organisation: str | None = Field(
        default=None,
        max_length=200,
        description="Organisation, for professionals.",
        examples=["Synthetic Academy"],
    )
    contact: str | None = Field(
        default=None,
        max_length=200,
        description="Telephone or secure e-mail.",
        examples=["07700 900123"],
    )


class ConcernIn(NativeModel):
    """A safeguarding concern in the hub vocabulary, optionally with a CIN census factor."""

    code: ConcernCode = Field(
        description="Hub concern code.", examples=["CHILD_CRIMINAL_EXPLOITATION"]
    )
    census_factor: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,2}[A-F]?$",
        description="CIN census assessment factor (data item N00181), when known.",
        examples=["24A"],
    )


class RiskIn(NativeModel):
    """The sending agency's risk assessment at the time of the record."""

    level: RiskLevel = Field(
        description="Risk level: NO_APPARENT_RISK, LOW, MEDIUM or HIGH.", examples=["HIGH"]
    )
    immediate_danger: bool = Field(
        default=False,
        description="True when the child is believed to be in immediate danger now.",
        examples=[False],
    )
