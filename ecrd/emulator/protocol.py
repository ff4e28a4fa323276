"""Wire formats for `ecrd.emulator.server`: parse AWS requests, render the services' answers.

Pure functions over bytes and values; the HTTP server, the calls and the faults live in
`ecrd.emulator.server`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import re
import secrets
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message

DEFAULT_ACCOUNT: Final = "123456789012"
MAX_REGISTRY_IDS: Final = 10
_ECR_TARGET: Final = "AmazonEC2ContainerRegistry_V20150921"
_PUBLIC_TARGET: Final = "SpencerFrontendService"
_JSON: Final = "application/x-amz-json-1.1"
_STS_NS: Final = "https://sts.amazonaws.com/doc/2011-06-15/"
_CREDENTIAL: Final = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/")
_REGISTRY_ID: Final = re.compile(r"[0-9]{12}")
_ROLE_ARN: Final = re.compile(r"arn:[\w-]+:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)")
_ISSUED_KEY: Final = re.compile(r"ASIA([0-9]{12})")
_KEY_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_PAYLOAD_BYTES: Final = 1100  # real passwords are base64 JSON blobs of 2 KB and more
_DATAKEY_BYTES: Final = 180
_NOT_JSON: Final = ("SerializationException", "the request body is not JSON")
_NOT_A_LIST: Final = ("InvalidParameterException", "registryIds must be a list")


@dataclass(frozen=True)
class Request:
    """What the emulator understood of one AWS request."""

    api: str  # "ecr" | "ecr-public" | "sts" | "unknown"
    operation: str
    region: str
    access_key: str
    registry_ids: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()  # STS form fields
    invalid: tuple[str, str] | None = None  # error code and message to answer instead

    def param(self, name: str) -> str | None:
        """Return a form field of an STS request."""
        return dict(self.params).get(name)


@dataclass(frozen=True)
class Reply:
    """An HTTP answer."""

    status: int
    content_type: str
    body: bytes


def parse_request(headers: Message, body: bytes) -> Request:
    """Read the API, operation, SigV4 scope and registry ids of a request."""
    match = _CREDENTIAL.search(headers.get("Authorization") or "")
    access_key, region = match.groups() if match else ("", "")
    target = headers.get("X-Amz-Target") or ""
    prefix, _, operation = target.partition(".")
    api = {_ECR_TARGET: "ecr", _PUBLIC_TARGET: "ecr-public"}.get(prefix)
    if api is None:
        params = tuple((k, v[0]) for k, v in parse_qs(body.decode("utf-8", "replace")).items())
        action = dict(params).get("Action")
        api = "sts" if action and not target else "unknown"
        return Request(api, action or operation, region, access_key, params=params)
    try:
        document = json.loads(body) if body.strip() else {}
    except ValueError:
        return Request(api, operation, region, access_key, invalid=_NOT_JSON)
    ids = document.get("registryIds") if isinstance(document, dict) else None
    if api != "ecr" or ids is None:
        return Request(api, operation, region, access_key)
    if not isinstance(ids, list):
        return Request(api, operation, region, access_key, invalid=_NOT_A_LIST)
    registry_ids = tuple(str(i) for i in ids)
    message = None
    if len(ids) > MAX_REGISTRY_IDS:
        message = (
            f"1 validation error detected: Value '{registry_ids}' at 'registryIds' failed to "
            f"satisfy constraint: Member must have length less than or equal to 10"
        )
    elif not all(isinstance(i, str) and _REGISTRY_ID.fullmatch(i) for i in ids):
        message = (
            "Invalid parameter at 'registryIds' failed to satisfy constraint: "
            "'Member must satisfy regular expression pattern: [0-9]{12}'"
        )
    invalid = None if message is None else ("InvalidParameterException", message)
    return Request(api, operation, region, access_key, registry_ids, invalid=invalid)


def answer(
    request: Request, *, now: datetime, expires_at: datetime, passwords: PasswordMaker
) -> Reply:
    """Answer a request as the real service would (signatures are not checked)."""
    if request.invalid is not None:
        return json_error(400, *request.invalid)
    operation = _OPERATIONS.get((request.api, request.operation))
    if operation is not None:
        return operation(request, _Issue(now=now, expires_at=expires_at, passwords=passwords))
    if request.api == "sts":
        message = f"Could not find operation {request.operation} for version 2011-06-15"
        return _sts_error(400, "InvalidAction", message)
    return Reply(400, _JSON, b'{"__type":"UnknownOperationException"}')


@dataclass(frozen=True)
class _Issue:
    """What an operation needs besides the request."""

    now: datetime
    expires_at: datetime
    passwords: PasswordMaker


def _ecr_token(request: Request, issue: _Issue) -> Reply:
    ids = request.registry_ids or (account_for(request.access_key),)
    region = request.region or "us-east-1"
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    data = [
        {
            **_authorization(issue.passwords.issue(i, expires_at=issue.expires_at), issue),
            "proxyEndpoint": f"https://{i}.dkr.ecr.{region}.{suffix}",
        }
        for i in ids
    ]
    return json_reply({"authorizationData": data})


def _public_token(_request: Request, issue: _Issue) -> Reply:
    password = issue.passwords.issue("public", expires_at=issue.expires_at)
    return json_reply({"authorizationData": _authorization(password, issue)})


def _caller_identity(request: Request, _issue: _Issue) -> Reply:
    account = account_for(request.access_key)
    if account == DEFAULT_ACCOUNT:
        arn = f"arn:aws:iam::{account}:user/test"
    else:
        arn = f"arn:aws:sts::{account}:assumed-role/emulated/session"
    result = _xml(Arn=arn, UserId=request.access_key, Account=account)
    return _sts_reply("GetCallerIdentity", result)


def fault_reply(request: Request, kind: str) -> Reply:
    """Return the error answer of an "http500", "throttle" or "access_denied" fault."""
    account = account_for(request.access_key)
    action = f"{request.api}:{request.operation}"
    denied = (
        f"User: arn:aws:iam::{account}:user/test is not authorized to perform: {action} on "
        f"resource: * because no identity-based policy allows the {action} action"
    )
    if request.api == "sts":
        status, code, message = {
            "http500": (500, "InternalFailure", "internal error"),
            "throttle": (400, "Throttling", "Rate exceeded"),
        }.get(kind, (403, "AccessDenied", denied))
        return _sts_error(status, code, message)
    status, code, message = {
        "http500": (500, "ServerException", "internal error"),
        "throttle": (400, "ThrottlingException", "Rate exceeded"),
    }.get(kind, (400, "AccessDeniedException", denied))
    return json_error(status, code, message)


def account_for(access_key: str) -> str:
    """Return the account of an access key: the role's for keys from AssumeRole."""
    match = _ISSUED_KEY.match(access_key)
    return match.group(1) if match else DEFAULT_ACCOUNT


def json_reply(data: object) -> Reply:
    """Return a 200 JSON 1.1 answer."""
    return Reply(200, _JSON, json.dumps(data).encode())


def json_error(status: int, code: str, message: str) -> Reply:
    """Return a JSON 1.1 error answer, which botocore reads as ``code``."""
    return Reply(status, _JSON, json.dumps({"__type": code, "message": message}).encode())


def request_id() -> str:
    """Return a fresh request id for the ``x-amzn-RequestId`` header."""
    return str(uuid.uuid4())


def shut(connection: socket.socket) -> None:
    """Shut a connection down both ways; a closed one is fine."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class PasswordMaker:
    """Issues ECR-like passwords: random each time, or stable per registry id."""

    def __init__(self, *, stable: bool, now: datetime) -> None:
        self._stable = stable
        self._seed = secrets.token_bytes(32)
        self._stable_expiration = int((now + timedelta(hours=12)).timestamp())
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}

    def issue(self, registry_id: str, *, expires_at: datetime) -> str:
        """Return the password for one answer about ``registry_id``."""
        if self._stable:
            return self.password_for(registry_id)
        password = _password(secrets.token_bytes(_PAYLOAD_BYTES + _DATAKEY_BYTES), expires_at)
        with self._lock:
            self._last[registry_id] = password
        return password

    def password_for(self, registry_id: str) -> str:
        """Return the stable password of ``registry_id``, or else the last one issued."""
        if self._stable:
            material = hashlib.shake_256(self._seed + registry_id.encode()).digest(
                _PAYLOAD_BYTES + _DATAKEY_BYTES
            )
            expiration = datetime.fromtimestamp(self._stable_expiration, timezone.utc)
            return _password(material, expiration)
        with self._lock:
            if registry_id not in self._last:
                msg = f"no password issued yet for registry {registry_id!r}"
                raise LookupError(msg)
            return self._last[registry_id]


def _password(material: bytes, expires_at: datetime) -> str:
    blob = {
        "payload": base64.b64encode(material[:_PAYLOAD_BYTES]).decode(),
        "datakey": base64.b64encode(material[_PAYLOAD_BYTES:]).decode(),
        "version": "2",
        "type": "DATA_KEY",
        "expiration": int(expires_at.timestamp()),
    }
    return base64.b64encode(json.dumps(blob, separators=(",", ":")).encode()).decode()


def _authorization(password: str, issue: _Issue) -> dict[str, object]:
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    return {"authorizationToken": token, "expiresAt": round(issue.expires_at.timestamp(), 3)}


def _assume_role(request: Request, issue: _Issue) -> Reply:
    role_arn, session = request.param("RoleArn") or "", request.param("RoleSessionName") or ""
    match = _ROLE_ARN.fullmatch(role_arn)
    duration = request.param("DurationSeconds") or "3600"
    if match is None or not session or not duration.isdigit():
        message = f"invalid AssumeRole request for role {role_arn!r}"
        return _sts_error(400, "ValidationError", message)
    account, role = match.groups()
    suffix = "".join(secrets.choice(_KEY_CHARS) for _ in range(4))
    expiration = issue.now + timedelta(seconds=int(duration))
    credentials = _xml(
        AccessKeyId=f"ASIA{account}{suffix}",
        SecretAccessKey=secrets.token_urlsafe(30),
        SessionToken=secrets.token_urlsafe(300),
        Expiration=expiration.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    user = _xml(
        Arn=f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        AssumedRoleId=f"AROA{hashlib.sha256(role_arn.encode()).hexdigest()[:17].upper()}:{session}",
    )
    result = f"<Credentials>{credentials}</Credentials><AssumedRoleUser>{user}</AssumedRoleUser>"
    return _sts_reply("AssumeRole", result)


def _xml(**fields: str) -> str:
    return "".join(f"<{k}>{html.escape(v, quote=False)}</{k}>" for k, v in fields.items())


def _sts_reply(operation: str, result: str) -> Reply:
    body = (
        f'<{operation}Response xmlns="{_STS_NS}"><{operation}Result>{result}</{operation}Result>'
        f"<ResponseMetadata><RequestId>{request_id()}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    )
    return Reply(200, "text/xml", body.encode())


def _sts_error(status: int, code: str, message: str) -> Reply:
    kind = "Receiver" if status >= 500 else "Sender"  # noqa: PLR2004 (HTTP 5xx)
    body = (
        f'<ErrorResponse xmlns="{_STS_NS}"><Error><Type>{kind}</Type><Code>{code}</Code>'
        f"<Message>{html.escape(message, quote=False)}</Message></Error>"
        f"<RequestId>{request_id()}</RequestId></ErrorResponse>"
    )
    return Reply(status, "text/xml", body.encode())


_OPERATIONS: Final[dict[tuple[str, str], Callable[[Request, _Issue], Reply]]] = {
    ("ecr", "GetAuthorizationToken"): _ecr_token,
    ("ecr-public", "GetAuthorizationToken"): _public_token,
    ("sts", "AssumeRole"): _assume_role,
    ("sts", "GetCallerIdentity"): _caller_identity,
}
