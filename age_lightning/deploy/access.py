"""Who may call the service: one API key per till (or auditor, or operator), kept as SHA-256 digests in a keys file.

The keys file has one line per caller, `NAME:SHA256HEX` (the hex SHA-256 of its key), then optionally
`role=auditor` (reads the answer log, never asks for an age) or `role=operator` (clears a till's shift alarm; the
default role is `till`) and `store=NAME` (the store a till's answers are logged under); `#` starts a comment.
`python make_key.py name=till-01 [store=...] [role=...]` makes a key and prints its line. The server never holds a
key itself, only its digest, so a leaked keys file does not let anyone call it.
"""

import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from age_lightning.errors import UserError

ROLES = ("till", "auditor", "operator")
ANONYMOUS = "anonymous"  # the caller's name when the service runs without keys (loopback only)
UNAUTHENTICATED = "unauthenticated"  # the metrics label of refused calls
TILL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DIGEST = re.compile(r"[0-9a-f]{64}")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    name: str
    role: str = "till"
    store: str | None = None


def _checked(caller: Caller) -> Caller:
    """The caller, or a UserError saying which of its parts is malformed."""
    for part, value in (("name", caller.name), ("store", caller.store)):
        if value is not None and not TILL_NAME.fullmatch(value):
            raise UserError(f"{part} {value!r}: use 1-64 letters, digits, '.', '_' or '-', a letter or digit first")
    if caller.role not in ROLES:
        raise UserError(f"role {caller.role!r}: one of {', '.join(ROLES)}")
    return caller


def new_key(name: str, role: str = "till", store: str | None = None) -> tuple[str, str]:
    """A fresh random key for caller `name` and the keys-file line that admits it."""
    caller = _checked(Caller(name, role, store))
    key = secrets.token_urlsafe(32)
    extra = (f" role={caller.role}" if caller.role != "till" else "") + (f" store={store}" if store else "")
    return key, f"{name}:{key_digest(key)}{extra}"


@dataclass(frozen=True)
class ApiKeys:
    digests: tuple[tuple[Caller, bytes], ...]  # (caller, SHA-256 of its key)

    @classmethod
    def load(cls, path: str | Path) -> "ApiKeys":
        """Read a keys file; a malformed line is a UserError naming the file and the line."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise UserError(f"api_keys={path}: cannot read it ({error.strerror})") from None
        digests, names = [], set()
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, rest = (part.strip() for part in line.partition(":"))
            digest, *attributes = rest.split() or [""]
            where = f"{path}, line {number}"
            if not TILL_NAME.fullmatch(name) or not DIGEST.fullmatch(digest.lower()):
                raise UserError(
                    f"{where}: expected NAME:SHA256HEX [role=auditor] [store=NAME] (make one with python make_key.py "
                    f"name=NAME)"
                )
            options = dict(attribute.partition("=")[::2] for attribute in attributes)
            unknown = sorted(set(options) - {"role", "store"})
            if unknown:
                raise UserError(f"{where}: unknown {', '.join(unknown)}: give role= or store=")
            try:
                caller = _checked(Caller(name, options.get("role", "till"), options.get("store")))
            except UserError as error:
                raise UserError(f"{where}: {error}") from None
            if name in names:
                raise UserError(f"{where}: {name!r} is listed twice")
            names.add(name)
            digests.append((caller, bytes.fromhex(digest)))
        if not digests:
            raise UserError(f"api_keys={path} lists no till: add lines made with python make_key.py name=NAME")
        return cls(tuple(digests))

    def caller(self, key: str) -> Caller | None:
        """The caller whose key this is, or None. Every digest is compared, each in constant time, so the answer
        takes as long whichever caller (if any) matches."""
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for caller, stored in self.digests:
            if hmac.compare_digest(digest, stored):
                found = caller
        return found


def is_loopback(host: str) -> bool:
    """Whether `host` (a uvicorn bind address) accepts connections from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False
