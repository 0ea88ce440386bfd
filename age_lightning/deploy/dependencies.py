"""The routes' dependencies, read from `app.state` (set by app.create_app): the caller and its role, and the ready
service. Tests replace them with `app.dependency_overrides`."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from age_lightning.deploy.access import ANONYMOUS, Caller
from age_lightning.deploy.answer_log import AnswerLog
from age_lightning.deploy.configs import ServeConfig
from age_lightning.deploy.service import AgeService

ARTICLE = {"till": "a till", "auditor": "an auditor", "operator": "an operator"}
bearer = HTTPBearer(auto_error=False, description="A till's or auditor's API key (python make_key.py name=...)")


def authorize(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    """The caller its key names (an anonymous till for a service without keys); 401 without a known key."""
    keys = request.app.state.keys
    caller = Caller(ANONYMOUS) if keys is None else keys.caller(credentials.credentials) if credentials else None
    if caller is None:
        raise HTTPException(
            401, "missing or unknown API key: send Authorization: Bearer <key>", {"WWW-Authenticate": "Bearer"}
        )
    request.state.till = caller.name
    return caller


def role(name: str):
    """A dependency: the caller, who must have the role `name` (403 otherwise)."""

    def check(caller: Annotated[Caller, Depends(authorize)]) -> Caller:
        if caller.role != name:
            raise HTTPException(
                403, f"this route needs the key of {ARTICLE[name]}; {caller.name} is {ARTICLE[caller.role]}"
            )
        return caller

    return check


def ready_service(request: Request) -> AgeService:
    """The service once its model is loaded and its loop runs; 503 before (or if the loop has died)."""
    service = request.app.state.service
    if service is None or not service.ready:
        raise HTTPException(503, "not ready; retry shortly", {"Retry-After": "1"})
    return service


def ready_log(service: Annotated[AgeService, Depends(ready_service)]) -> AnswerLog:
    """The answer log (its routes are only there when the service keeps one)."""
    assert service.answer_log is not None
    return service.answer_log


def serve_config(request: Request) -> ServeConfig:
    return request.app.state.cfg


AnyCaller = Annotated[Caller, Depends(authorize)]
Till = Annotated[Caller, Depends(role("till"))]
Auditor = Annotated[Caller, Depends(role("auditor"))]
Operator = Annotated[Caller, Depends(role("operator"))]
ReadyService = Annotated[AgeService, Depends(ready_service)]
ReadyLog = Annotated[AnswerLog, Depends(ready_log)]
Config = Annotated[ServeConfig, Depends(serve_config)]
