"""The routes' dependencies, read from `app.state` (set by app.create_app): the calling till and the ready
service. Tests replace them with `app.dependency_overrides`."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from age_lightning.deploy.access import ANONYMOUS
from age_lightning.deploy.configs import ServeConfig
from age_lightning.deploy.service import AgeService

bearer = HTTPBearer(auto_error=False, description="A till's API key (python make_key.py name=...)")


def authorize(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The calling till's name, from its key (anonymous for a service without keys); 401 without a known key."""
    keys = request.app.state.keys
    till = ANONYMOUS if keys is None else keys.till(credentials.credentials) if credentials else None
    if till is None:
        raise HTTPException(
            401, "missing or unknown API key: send Authorization: Bearer <key>", {"WWW-Authenticate": "Bearer"}
        )
    request.state.till = till
    return till


def ready_service(request: Request) -> AgeService:
    """The service once its model is loaded and its loop runs; 503 before (or if the loop has died)."""
    service = request.app.state.service
    if service is None or not service.ready:
        raise HTTPException(503, "not ready; retry shortly", {"Retry-After": "1"})
    return service


def serve_config(request: Request) -> ServeConfig:
    return request.app.state.cfg


Till = Annotated[str, Depends(authorize)]
ReadyService = Annotated[AgeService, Depends(ready_service)]
Config = Annotated[ServeConfig, Depends(serve_config)]
