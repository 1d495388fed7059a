"""Signing in and out, who am I, and API tokens for scripts and the CLI."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from tandem.api.deps import SESSION_COOKIE, AccountsDep, Address, CurrentSettings, CurrentUser, Database
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.routes.schemas import Id, LoginIn, MeOut, TokenCreate, TokenCreated, TokenOut
from tandem.services import accounts

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)


@router.post("/login")
async def login(
    body: LoginIn, request: Request, response: Response, auth: AccountsDep, address: Address, settings: CurrentSettings
) -> MeOut:
    """Check a password and start a browser sign-in: an HttpOnly, SameSite=Strict cookie (Secure
    when served over https). Failed attempts are limited per name and per address (429)."""
    user, secret = await auth.sign_in(body.name, body.password, address=address)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(auth.session_lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return MeOut.model_validate(accounts.Me.of(user, settings.auth))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(user: CurrentUser, auth: AccountsDep, address: Address) -> Response:
    """End this browser sign-in (a token is revoked with DELETE /auth/tokens/{id} instead)."""
    await auth.sign_out(user, address=address)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me")
async def me(user: CurrentUser, settings: CurrentSettings) -> MeOut:
    return MeOut.model_validate(accounts.Me.of(user, settings.auth))


@router.get("/tokens")
async def list_tokens(user: CurrentUser, db: Database) -> list[TokenOut]:
    async with db() as session:
        return [TokenOut.model_validate(t) for t in await accounts.list_tokens(session, user)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenCreate, user: CurrentUser, db: Database) -> TokenCreated:
    """A long-lived API token for the caller, shown this once."""
    async with db.begin() as session:
        issued = await accounts.create_token(session, user, body.name)
    token = issued.credential
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=issued.secret)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: Id, user: CurrentUser, db: Database) -> Response:
    async with db.begin() as session:
        await accounts.revoke_token(session, user, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
