"""Patient records: the use cases other packages call, by responsibility.

- `records.access`: the context (`Ctx`), who may see which patient (`visible_query`,
  `load_patient`) and the audit entry about a patient;
- `records.patients`: register, find, read, search, update, reveal the ID number;
- `records.documents`: documents and attachments;
- `records.consents`: informed consent.

Every read and write of patient data writes an audit entry in the same transaction.
"""

from __future__ import annotations

from yiyun.records.access import (
    ID_CONTEXT,
    PHONE_CONTEXT,
    Ctx,
    age_on,
    institutions_of,
    load_patient,
    mask_phone,
    visible_query,
)
from yiyun.records.consents import grant_consent, has_consent, list_consents, withdraw_consent
from yiyun.records.documents import (
    add_document,
    list_documents,
    read_document_file,
    upload_document,
)
from yiyun.records.patients import (
    find_by_id_number,
    read,
    register,
    reveal_id_number,
    search,
    to_read,
    update,
)

__all__ = [
    "ID_CONTEXT",
    "PHONE_CONTEXT",
    "Ctx",
    "add_document",
    "age_on",
    "find_by_id_number",
    "grant_consent",
    "has_consent",
    "institutions_of",
    "list_consents",
    "list_documents",
    "load_patient",
    "mask_phone",
    "read",
    "read_document_file",
    "register",
    "reveal_id_number",
    "search",
    "to_read",
    "update",
    "upload_document",
    "visible_query",
    "withdraw_consent",
]
