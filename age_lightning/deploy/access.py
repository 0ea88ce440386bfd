"""Who may call the service: one API key per till, kept as SHA-256 digests in a keys file.

The keys file has one line per till, `NAME:SHA256HEX` (the hex SHA-256 of the till's key); `#` starts a comment.
`python make_key.py name=till-01` makes a key and prints its line. The server never holds a key itself, only
its digest, so a leaked keys file does not let anyone call it.
"""

import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from age_lightning.errors import UserError

ANONYMOUS = "anonymous"  # the caller's name when the service runs without keys (loopback only)
UNAUTHENTICATED = "unauthenticated"  # the metrics label of refused calls
TILL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DIGEST = re.compile(r"[0-9a-f]{64}")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(name: str) -> tuple[str, str]:
    """A fresh random key for till `name` and the keys-file line that admits it."""
    if not TILL_NAME.fullmatch(name):
        raise UserError(
            f"till name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    key = secrets.token_urlsafe(32)
    return key, f"{name}:{key_digest(key)}"


@dataclass(frozen=True)
class TillKeys:
    digests: tuple[tuple[str, bytes], ...]  # (till name, SHA-256 of its key)

    @classmethod
    def load(cls, path: str | Path) -> "TillKeys":
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
            name, _, digest = (part.strip() for part in line.partition(":"))
            where = f"{path}, line {number}"
            if not TILL_NAME.fullmatch(name) or not DIGEST.fullmatch(digest.lower()):
                raise UserError(f"{where}: expected NAME:SHA256HEX (make one with python make_key.py name=NAME)")
            if name in names:
                raise UserError(f"{where}: till {name!r} is listed twice")
            names.add(name)
            digests.append((name, bytes.fromhex(digest)))
        if not digests:
            raise UserError(f"api_keys={path} lists no till: add lines made with python make_key.py name=NAME")
        return cls(tuple(digests))

    def till(self, key: str) -> str | None:
        """The till whose key this is, or None. Every digest is compared, each in constant time, so the answer
        takes as long whichever till (if any) matches."""
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for name, stored in self.digests:
            if hmac.compare_digest(digest, stored):
                found = name
        return found


def is_loopback(host: str) -> bool:
    """Whether `host` (a uvicorn bind address) accepts connections from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False
