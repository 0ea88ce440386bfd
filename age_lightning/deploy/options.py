"""Typed key=value options for the torch-free commands (predict_onnx.py, serve.py), without Hydra."""

from typing import TypeVar, cast

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from age_lightning.errors import UserError

T = TypeVar("T")


def parse_options(schema: type[T], argv: list[str]) -> T:
    """key=value arguments -> an instance of the dataclass `schema`; an unknown key, a wrong type or a missing
    value is a one-line UserError that lists the options."""
    try:
        return cast(T, OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(argv))))
    except OmegaConfBaseException as error:
        raise UserError(f"{str(error).splitlines()[0]} (options: {', '.join(schema.__annotations__)})") from None
