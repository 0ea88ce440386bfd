"""Typed key=value options for the torch-free commands (predict_onnx.py, serve.py, ...), without Hydra."""

from dataclasses import MISSING as NO_DEFAULT
from dataclasses import asdict, fields, is_dataclass
from typing import TypeVar, cast

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from age_lightning.errors import UserError

T = TypeVar("T")
HELP = ("--help", "-h")


def parse_options(schema: type[T], argv: list[str]) -> T:
    """key=value arguments -> an instance of the dataclass `schema`; an unknown key, a wrong type or a missing
    value is a one-line UserError that lists the options."""
    try:
        return cast(T, OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(argv))))
    except OmegaConfBaseException as error:
        names = ", ".join(schema.__annotations__)
        raise UserError(f"{str(error).splitlines()[0]} (options: {names}; --help lists them)") from None


def usage(command: str, schema: type) -> str:
    """What `command --help` prints: the schema's docstring, then one line per option with its default."""
    lines = [f"usage: {command} key=value ...", "", (schema.__doc__ or "").strip(), "", "options:"]
    for f in fields(schema):
        default = f.default if f.default is not NO_DEFAULT else None
        if f.default_factory is not NO_DEFAULT:  # a dict, or a nested dataclass of options (columns.cashier=...)
            made = f.default_factory()
            default = asdict(made) if is_dataclass(made) and not isinstance(made, type) else made
        shown = "(required)" if default == MISSING else f"(default: {'none' if default is None else default!r})"
        lines.append(f"  {f.name:<20} {f.metadata.get('help', '')} {shown}")
    return "\n".join(lines)
