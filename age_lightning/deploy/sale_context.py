"""What a till may send along with a photo for the answer log: the sale, the cashier and the event, as headers
(X-Sale-Id, X-Cashier, X-Event) or as fields of a multipart form. Each is optional, and bounded: 1-64 letters,
digits and `._:-`. The till itself is never taken from the request: it is the caller its key names."""

import re

from fastapi import HTTPException, Request

VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
FIELDS = {"sale_id": "X-Sale-Id", "cashier": "X-Cashier", "event": "X-Event"}


def sale_context(request: Request, form: dict[str, str]) -> dict[str, str | None]:
    """sale_id, cashier and event from the request's headers or its form fields (None where absent); 400 naming
    the field when one is malformed, or given twice with different values."""
    context: dict[str, str | None] = {}
    for name, header in FIELDS.items():
        given = {value for value in (request.headers.get(header), form.get(name)) if value is not None}
        if len(given) > 1:
            raise HTTPException(400, f"{header} and the form field {name} differ: send one")
        value = given.pop() if given else None
        if value is not None and not VALUE.fullmatch(value):
            raise HTTPException(400, f"{header} (or form field {name}): use 1-64 letters, digits, '.', '_', ':' or '-'")
        context[name] = value
    return context
