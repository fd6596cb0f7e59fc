"""Building blocks the agencies' native-format models share, with their validation rules.

Every field carries a description and an example, so each adapter's OpenAPI page documents
every field. `example_of(Model)` assembles a whole example from the field examples, so model
examples never drift from field examples.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.fields import FieldInfo

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
    "RiskIn",
    "check_person_name",
    "example_of",
    "normalise_postcode",
    "parse_flexible_date",
]


class CodedValueError(ValueError):
    """A validation failure with a stable machine code for the field-level error.

    `field` names the offending field when a model-level check raises it, so the pointer
    points at that field rather than at the enclosing object.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        self.code = code
        self.field = field
        super().__init__(message)


def _check_nhs_number(raw: str) -> str:
    digits = normalise_nhs_number(raw)
    if len(digits) != 10 or re.fullmatch(r"[\d\s-]+", raw.strip()) is None:
        raise CodedValueError("nhs_number_format", "NHS number must be 10 digits.")
    if not is_valid_nhs_number(raw):
        raise CodedValueError("nhs_number_checksum", "NHS number fails the modulus-11 check digit.")
    return digits


# Long enough for any spacing of 10 digits an agency system writes ("999 123 4551"); the bound
# is checked before the format, so an oversized value is refused without being scanned.
NhsNumber = Annotated[str, StringConstraints(max_length=16), AfterValidator(_check_nhs_number)]
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


class NativeModel(BaseModel):
    """Base for native-format models: unknown fields are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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

    @model_validator(mode="after")
    def _reason_when_not_sought(self) -> Self:
        if self.status is ConsentStatus.NOT_SOUGHT and not self.reason_not_sought:
            raise CodedValueError(
                "reason_required",
                "reason_not_sought is required when consent status is NOT_SOUGHT (rule R1).",
                field="reason_not_sought",
            )
        return self


class FamilyInformedIn(NativeModel):
    """Whether the family was told about this information being shared, and if not, why."""

    informed: bool = Field(description="True when the family has been told.", examples=[False])
    reason_not_informed: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Why the family was not told; required when informed is false.",
        examples=["Telling the family could put the child at risk."],
    )

    @model_validator(mode="after")
    def _reason_when_not_informed(self) -> Self:
        if not self.informed and not self.reason_not_informed:
            raise CodedValueError(
                "reason_required",
                "reason_not_informed is required when the family was not informed (rule R1).",
                field="reason_not_informed",
            )
        return self


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
