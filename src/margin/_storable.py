"""The base of every request model: what no store can hold is refused, field by field, and a
number is never rounded on its way to a field.

Before its own validation, every field of a ``Storable`` model goes through
``margin._payload.check_json``: NUL, lone surrogates, integers past signed 64 bits,
non-finite numbers and over-deep nesting are refused with a validation error located at the
offending value (``metadata.note``, ``outcomes.0.name``), so that the API answers 422 naming
it, the same on SQLite and PostgreSQL. The error's message is the reason alone; the problem
that reports it reads ``<field>: <reason>`` (``margin.server.problems``).

A request body is parsed with ``parse_json(decimals=True)`` (``margin.server.exact_json``): a
number that no float holds as written reaches the model as a ``Decimal`` (``NaN`` too, which
``check_json`` refuses wherever it is sent). A field that holds floats or free-form JSON
(``float``, ``Any``, ``dict[str, Any]``) gets the float an encoder writes that way, or
refuses the number (it would be rounded); every other field gets the exact ``Decimal``: an
amount's validator reads it to the digit, an integer field refuses a fraction, a text field
refuses a number. ``amounts`` names the free-form fields whose numbers are amounts, kept
exact for the service that reads them.

Typed text is stripped of surrounding whitespace (ids, names, codes), as the ingest items'
is: a customer created as ``" acme"`` is the ``acme`` a signal names. Free-form JSON is
stored as sent (its keys too), and a decimal is read as sent where its field says so (an amount's
validator sees the raw text; ``StringConstraints(strip_whitespace=False)`` elsewhere): a
space is not part of a decimal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Annotated, Any, ClassVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from margin._money import MoneyError, parse_amount
from margin._payload import PayloadError, check_json

__all__ = ["Quantity", "Storable"]


def _quantity(value: Any) -> str | int:
    """A quantity as its service parses it: a decimal string (as sent: a space is no part of
    a decimal) or an integer, a JSON number with a fraction (a float, or the exact
    ``Decimal``) as its decimal text."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a decimal string or a number")
    try:
        amount = parse_amount(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    return value if isinstance(value, str | int) else str(amount)


#: A quantity of credits or usage (a grant, a limit, a cap) sent as a decimal string or a JSON
#: number, which its service parses to exact nano-units (``control.quantities``).
Quantity = Annotated[str | int, BeforeValidator(_quantity)]


class Storable(BaseModel):
    """A strict request model (unknown fields refused, text stripped) whose every field is
    checked by ``check_json`` before anything else."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: Fields whose values are checked apart: a batch's raw items, each validated (and
    #: refused) on its own later, so that a bad value in one fails that item, not the batch.
    checked_apart: ClassVar[frozenset[str]] = frozenset()
    #: Free-form fields whose numbers are amounts (an order's price overrides): kept as the
    #: exact ``Decimal`` for the service that reads them, not made floats.
    amounts: ClassVar[frozenset[str]] = frozenset()
    # Per class, from the annotations: fields of nested models (each checks its own fields,
    # so that a refusal names the innermost one), of free-form JSON, and of floats.
    _models: ClassVar[frozenset[str]] = frozenset()
    _documents: ClassVar[frozenset[str]] = frozenset()
    _floats: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)

        def having(kind: Callable[[Any], bool]) -> frozenset[str]:
            fields = cls.model_fields.items()
            return frozenset(n for n, f in fields if any(map(kind, _parts(f.annotation))))

        cls._models = having(_is_model)
        cls._documents = having(_is_document)
        cls._floats = (cls._documents | having(lambda part: part is float)) - cls.amounts

    @field_validator("*", mode="wrap")
    @classmethod
    def _storable(
        cls, value: Any, validate: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        name = info.field_name or "body"
        if name in cls.checked_apart or name in cls._models:
            return validate(value)
        try:
            checked = check_json(value, name, depth=1, exact=name not in cls._floats)
        except PayloadError as exc:
            raise _refusal(cls.__name__, name, exc, value) from None
        valid = validate(checked)
        # A document's keys are its own, not typed text to trim: it is kept as sent.
        return checked if name in cls._documents and isinstance(valid, dict | list) else valid


def _refusal(title: str, name: str, exc: PayloadError, value: Any) -> ValidationError:
    """A validation error located at the refused value inside the field (pydantic prefixes
    the field's own location, by its alias where the model has one)."""
    inner = exc.field[len(name) + 1 :] if exc.field.startswith(f"{name}.") else ""
    error = PydanticCustomError("storable", "{detail}", {"detail": exc.detail})
    where = tuple(inner.split(".")) if inner else ()
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=error, loc=where, input=value)]
    )


def _parts(annotation: Any) -> Iterator[Any]:
    """The types an annotation is made of: unions, ``Annotated`` and arguments unrolled."""
    yield annotation
    for arg in get_args(annotation):
        yield from _parts(arg)


def _is_model(part: Any) -> bool:
    return isinstance(part, type) and issubclass(part, Storable)


def _is_document(part: Any) -> bool:
    return part is Any or part is dict or part is list
