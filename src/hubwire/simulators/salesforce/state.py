"""The simulated Salesforce org's data: sObjects, their describe metadata, records and queries.

Owns Contact, Account, Opportunity and Lead with Salesforce's 18-character ids (key prefix and case-
safe checksum), the system fields (``CreatedDate``, ``LastModifiedDate``, ``SystemModstamp``,
``IsDeleted``: a deleted record goes to the recycle bin, seen by ``queryAll`` only), required and
unique fields (``REQUIRED_FIELD_MISSING``, ``DUPLICATE_VALUE``), custom ``__c`` fields, and running
a parsed SOQL query. Raises :class:`SalesforceError`; knows nothing about HTTP.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from hubwire.simulators.salesforce.soql import Query, parse_datetime

__all__ = ["API_VERSION", "SObjectType", "SalesforceError", "SalesforceState", "sf_time"]

API_VERSION = "59.0"
_SYSTEM = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")
_TIMES = frozenset({"CreatedDate", "LastModifiedDate", "SystemModstamp"})


class SalesforceError(Exception):
    """An error answer: HTTP ``status`` and Salesforce's ``errorCode``, message and ``fields``."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message, self.fields = status, error_code, message, fields or []

    def body(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.error_code, "fields": self.fields}]


def sf_time(epoch: float) -> str:
    """Salesforce's datetime spelling: ``2024-01-31T10:00:00.000+0000``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _checksum(ident15: str) -> str:
    """The three characters that make a 15-character id case-insensitively unique."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    out = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(ident15[chunk * 5 : chunk * 5 + 5]) if "A" <= ch <= "Z")
        out += alphabet[bits]
    return out


@dataclass
class SObjectField:
    name: str
    type: str
    label: str
    required: bool = False
    unique: bool = False
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    writable: bool = True
    picklist: tuple[str, ...] = ()  # a picklist's values (their labels are the values)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "custom": self.custom,
            "nillable": not self.required and self.name != "Id",
            "createable": self.writable,
            "updateable": self.writable,
            "unique": self.unique,
            "externalId": self.unique and self.custom,
            "referenceTo": list(self.reference_to),
            "relationshipName": None,
            "length": 255 if self.type in ("string", "email", "phone", "url", "picklist", "textarea") else 0,
            "defaultedOnCreate": self.name in _SYSTEM,
            "filterable": True,
            "sortable": True,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v} for v in self.picklist
            ],
            "soapType": f"xsd:{'string' if self.type != 'boolean' else 'boolean'}",
        }


@dataclass
class SObjectType:
    name: str
    key_prefix: str
    fields: dict[str, SObjectField]

    def describe(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.name,
            "labelPlural": f"{self.name}s",
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "searchable": True,
            "retrieveable": True,
            "replicateable": True,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
            "fields": [f.describe() for f in self.fields.values()],
        }


def _standard(name: str, prefix: str, spec: str, required: tuple[str, ...]) -> SObjectType:
    fields = {
        "Id": SObjectField("Id", "id", f"{name} ID", writable=False),
        "IsDeleted": SObjectField("IsDeleted", "boolean", "Deleted", writable=False),
        "CreatedDate": SObjectField("CreatedDate", "datetime", "Created Date", writable=False),
        "LastModifiedDate": SObjectField("LastModifiedDate", "datetime", "Last Modified Date", writable=False),
        "SystemModstamp": SObjectField("SystemModstamp", "datetime", "System Modstamp", writable=False),
        "OwnerId": SObjectField("OwnerId", "reference", "Owner ID", reference_to=("User",)),
    }
    for item in spec.split():
        fname, ftype = item.split(":")
        ref = {"AccountId": ("Account",), "ContactId": ("Contact",)}.get(fname, ())
        fields[fname] = SObjectField(fname, ftype, fname, required=fname in required, reference_to=ref)
    return SObjectType(name, prefix, fields)


def _standard_types() -> dict[str, SObjectType]:
    return {
        "Account": _standard(
            "Account",
            "001",
            "Name:string Industry:picklist Website:url Phone:phone "
            "NumberOfEmployees:int AnnualRevenue:currency BillingCity:string BillingCountry:string "
            "Description:textarea",
            ("Name",),
        ),
        "Contact": _standard(
            "Contact",
            "003",
            "FirstName:string LastName:string Email:email Phone:phone "
            "MobilePhone:phone Title:string AccountId:reference Department:string",
            ("LastName",),
        ),
        "Opportunity": _standard(
            "Opportunity",
            "006",
            "Name:string Amount:currency StageName:picklist "
            "CloseDate:date AccountId:reference ContactId:reference Probability:percent IsClosed:boolean "
            "IsWon:boolean Type:picklist",
            ("Name", "StageName", "CloseDate"),
        ),
        "Lead": _standard(
            "Lead",
            "00Q",
            "FirstName:string LastName:string Email:email Company:string "
            "Phone:phone Status:picklist Title:string Industry:picklist IsConverted:boolean",
            ("LastName", "Company"),
        ),
    }


@dataclass
class SalesforceState:
    """All records of one org; ``now`` is the org's clock (epoch seconds)."""

    now: Callable[[], float]
    types: dict[str, SObjectType] = field(default_factory=_standard_types)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deleted_at: dict[str, float] = field(default_factory=dict)
    _serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def sobject(self, name: str) -> SObjectType:
        found = self.types.get(name) or next((t for t in self.types.values() if t.name.lower() == name.lower()), None)
        if found is None:
            raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist (sObject type '{name}')")
        return found

    def add_field(
        self, sobject: str, name: str, ftype: str = "string", *, unique: bool = False, values: tuple[str, ...] = ()
    ) -> SObjectField:
        """A custom field (its name ends in ``__c``), as made in Setup; ``values``: a picklist's."""
        if not name.endswith("__c"):
            raise ValueError("custom field names end in __c")
        made = SObjectField(name, ftype, name[:-3].replace("_", " "), unique=unique, custom=True, picklist=values)
        self.sobject(sobject).fields[name] = made
        return made

    def _new_id(self, kind: SObjectType) -> str:
        ident15 = f"{kind.key_prefix}Hw{next(self._serial):010d}"
        return ident15 + _checksum(ident15)

    def get(self, sobject: str, ident: str, *, deleted: bool = False) -> dict[str, Any]:
        kind = self.sobject(sobject)
        record = self.records.get(kind.name, {}).get(ident[:15])
        if record is None or (record["IsDeleted"] and not deleted):
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return record

    def check(self, kind: SObjectType, values: dict[str, Any], *, creating: bool, ident: str | None = None) -> None:
        """Raise what Salesforce would for these values: INVALID_FIELD, REQUIRED_FIELD_MISSING, DUPLICATE_VALUE."""
        for name in values:
            if name == "attributes":
                continue
            spec = kind.fields.get(name)
            if spec is None:
                raise SalesforceError(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {kind.name}", [name]
                )
            if not spec.writable:
                raise SalesforceError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}. Please check the security settings "
                    "of this field and verify that it is read/write for your profile or "
                    "permission set.",
                    [name],
                )
        if creating:
            missing = [f.name for f in kind.fields.values() if f.required and values.get(f.name) in (None, "")]
        else:
            missing = [n for n, v in values.items() if n in kind.fields and kind.fields[n].required and v in (None, "")]
        if missing:
            raise SalesforceError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        for name, value in values.items():
            spec = kind.fields.get(name)
            if spec is None or not spec.unique or value in (None, ""):
                continue
            for other in self.records.get(kind.name, {}).values():
                if other[name] == value and not other["IsDeleted"] and other["Id"] != ident:
                    raise SalesforceError(
                        400,
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {name} duplicates value on record with id: {other['Id']}",
                        [name],
                    )

    def create(self, sobject: str, values: dict[str, Any], *, at: float | None = None) -> dict[str, Any]:
        kind = self.sobject(sobject)
        values = {k: v for k, v in values.items() if k != "attributes"}
        self.check(kind, values, creating=True)
        stamp = sf_time(self.now() if at is None else at)
        ident = self._new_id(kind)
        record: dict[str, Any] = {f: None for f in kind.fields}
        record.update(values)
        record.update(Id=ident, IsDeleted=False, CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp)
        self.records.setdefault(kind.name, {})[ident[:15]] = record
        return record

    def update(self, sobject: str, ident: str, values: dict[str, Any]) -> dict[str, Any]:
        kind = self.sobject(sobject)
        record = self.get(kind.name, ident)
        values = {k: v for k, v in values.items() if k != "attributes"}
        self.check(kind, values, creating=False, ident=record["Id"])
        record.update(values)
        record["LastModifiedDate"] = record["SystemModstamp"] = sf_time(self.now())
        return record

    def delete(self, sobject: str, ident: str) -> None:
        record = self.get(sobject, ident)
        record["IsDeleted"] = True
        record["SystemModstamp"] = sf_time(self.now())
        self.deleted_at[record["Id"]] = self.now()

    def view(self, sobject: str, record: dict[str, Any], fields: tuple[str, ...] | None, version: str) -> Any:
        kind = self.sobject(sobject)
        names = tuple(kind.fields) if fields is None else fields
        for name in names:
            if name not in kind.fields:
                raise SalesforceError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{kind.name}'. If "
                    "you are attempting to use a custom field, be sure to append the '__c' after "
                    "the custom field name.",
                    [name],
                )
        attributes = {"type": kind.name, "url": f"/services/data/v{version}/sobjects/{kind.name}/{record['Id']}"}
        return {"attributes": attributes, **{n: record[n] for n in names}}

    def run(self, query: Query, *, include_deleted: bool) -> list[dict[str, Any]]:
        """The records a parsed query selects, in its order, limited."""
        kind = self.sobject(query.sobject)
        for name in [c.field for c in query.where] + [f for f, _ in query.order]:
            if name not in kind.fields:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{kind.name}'.", [name])
        found = [
            r
            for r in self.records.get(kind.name, {}).values()
            if (include_deleted or not r["IsDeleted"])
            and all(_holds(kind, r, c.field, c.op, c.value) for c in query.where)
        ]
        found.sort(key=lambda r: r["Id"])
        for name, descending in reversed(query.order):

            def by(record: dict[str, Any], name: str = name) -> Any:
                return _comparable(kind, name, record[name])

            found.sort(key=by, reverse=descending)
        return found if query.limit is None else found[: query.limit]


def _comparable(kind: SObjectType, name: str, value: Any) -> Any:
    if value is None:
        return (0, "")
    if kind.fields[name].type == "datetime" and isinstance(value, str):
        return (1, parse_datetime(value))
    if kind.fields[name].type == "date" and isinstance(value, str):
        return (1, date.fromisoformat(value))
    return (1, value)


def _holds(kind: SObjectType, record: dict[str, Any], name: str, op: str, wanted: Any) -> bool:
    have = record[name]
    if op in ("IN", "NOT IN"):
        return (have in wanted) == (op == "IN")
    if wanted is None or have is None:
        return (have is wanted) == (op == "=") if op in ("=", "!=") else False
    if isinstance(wanted, datetime) and name in _TIMES | {n for n, f in kind.fields.items() if f.type == "datetime"}:
        have = parse_datetime(have)
    elif isinstance(wanted, date) and not isinstance(wanted, datetime):
        have = date.fromisoformat(str(have)[:10])
    try:
        return {
            "=": have == wanted,
            "!=": have != wanted,
            "<": have < wanted,
            "<=": have <= wanted,
            ">": have > wanted,
            ">=": have >= wanted,
        }[op]
    except TypeError as exc:
        raise SalesforceError(
            400,
            "INVALID_QUERY_FILTER_OPERATOR",
            f"value of filter criterion for field '{name}' must be of type {kind.fields[name].type}",
        ) from exc
