"""The payments Lambda under AWS's real runtime client, against an embedded moto server (`nox -s demo`).

Two partner accounts each get a role (trusting the function's account, with an ExternalId) and a
payments table; handler.py then runs as `python -m awslambdaric handler.handler` against the test
kit's Runtime API emulator, one cold invocation and warm ones, and a table of the replies is printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from models import Payment

from aiotheory import DB, IdempotencyStore
from aiotheory.testing import LambdaProcess, MotoServer, RuntimeApi

if TYPE_CHECKING:
    from aiotheory.testing import RuntimeInvocation

__all__ = ["PARTNERS", "DemoRun", "Partner", "Row", "main", "provision", "render", "run"]

HERE: Final = Path(__file__).resolve().parent
REGION: Final = "us-east-1"
#: moto's default account stands for the function's own account; its keys call STS.
FUNCTION_ACCOUNT: Final = "123456789012"
_KEYS: Final = ("testing", "testing")
#: Lambda's budget per invocation (template.yaml: Timeout 10); the handler keeps 1 s of it back.
_TIMEOUT_MS: Final = 10_000
#: How long the demo waits for any one reply before giving up on the runtime.
_WAIT_S: Final = 30.0
_REPLY_WIDTH: Final = 140
_PAY_ID: Final = re.compile(r"(pay_[0-9a-f]{8})[0-9a-f]{24}")


@dataclass(frozen=True, slots=True)
class Partner:
    """A partner as the function sees it: `PARTNER<n>_*` variables for its account."""

    n: int
    account: str
    external_id: str

    @property
    def id(self) -> str:
        return f"partner{self.n}"


PARTNERS: Final = (
    Partner(1, "111111111111", "ext-7f3c9a1e-partner1"),
    Partner(2, "222222222222", "ext-b52d04c8-partner2"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    number: int
    partner: str
    action: str
    reply: Any
    duration_ms: int
    outcome: str  # "response", or "error" when the handler raised (it should never)
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoRun:
    init_ms: int
    import_ms: float
    rows: tuple[Row, ...]
    roles: dict[str, str]  # partner id -> role ARN
    prefix: str
    stderr: str


# ------------------------------------------------------------------------------------- provisioning


def _trust_policy(external_id: str) -> str:
    """What a partner grants: the function's account may assume the role, with the agreed ExternalId."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{FUNCTION_ACCOUNT}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
                }
            ],
        }
    )


def _table_policy(account: str, table: str) -> str:
    arn = f"arn:aws:dynamodb:{REGION}:{account}:table/{table}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": arn}
            ],
        }
    )


async def _create_tables(endpoint_url: str, prefix: str, admins: list[tuple[str, str, str]]) -> None:
    for credentials in admins:
        async with DB(
            region=REGION, endpoint_url=endpoint_url, credentials=credentials, table_prefix=prefix
        ) as admin:
            await admin.create_table(Payment)
    # createPayment's idempotency records live in the function's own account.
    async with DB(region=REGION, endpoint_url=endpoint_url, credentials=_KEYS, table_prefix=prefix) as own:
        await IdempotencyStore(own, table="idempotency").create_table()


def provision(endpoint_url: str, prefix: str) -> dict[str, str]:
    """Set up each partner's account as the partner would, and return the function's PARTNER* variables.

    The partner's administrator (here: an AssumeRole into the partner account, which moto grants for
    any account id) creates the role the function assumes and the payments table. moto records the
    trust policy but does not enforce it; real STS refuses a caller without the ExternalId.
    """
    import boto3  # the test extra's; only the demo's setup uses it (IAM is not aiotheory's business)

    key, secret = _KEYS
    options: dict[str, Any] = {"endpoint_url": endpoint_url, "region_name": REGION}
    sts = boto3.client("sts", aws_access_key_id=key, aws_secret_access_key=secret, **options)
    env: dict[str, str] = {}
    admins: list[tuple[str, str, str]] = []
    for partner in PARTNERS:
        granted = sts.assume_role(
            RoleArn=f"arn:aws:iam::{partner.account}:role/OrganizationAccountAccessRole",
            RoleSessionName="partner-admin",
        )["Credentials"]
        admin = (granted["AccessKeyId"], granted["SecretAccessKey"], granted["SessionToken"])
        iam = boto3.client(
            "iam",
            aws_access_key_id=admin[0],
            aws_secret_access_key=admin[1],
            aws_session_token=admin[2],
            **options,
        )
        role = iam.create_role(
            RoleName="payments-access",
            AssumeRolePolicyDocument=_trust_policy(partner.external_id),
            Description="lets the payments function read and write this account's payments table",
        )["Role"]
        iam.put_role_policy(
            RoleName="payments-access",
            PolicyName="payments-table",
            PolicyDocument=_table_policy(partner.account, f"{prefix}payments"),
        )
        admins.append(admin)
        env[f"PARTNER{partner.n}_ROLE_ARN"] = role["Arn"]
        env[f"PARTNER{partner.n}_EXTERNAL_ID"] = partner.external_id
        env[f"PARTNER{partner.n}_REGION"] = REGION
    asyncio.run(_create_tables(endpoint_url, prefix, admins))
    return env


def function_env(endpoint_url: str, prefix: str, partners: dict[str, str]) -> dict[str, str]:
    """The function's environment: what template.yaml sets, plus moto endpoints and keys.

    On AWS the same handler runs unchanged: Lambda supplies the region and the role's keys, and
    without the endpoint variables the regional STS and DynamoDB endpoints are used.
    """
    key, secret = _KEYS
    return {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": "",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url,
        "AWS_ENDPOINT_URL_STS": endpoint_url,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false",
        "AIOTHEORY_TABLE_PREFIX": prefix,
        **partners,
    }


# -------------------------------------------------------------------------------------- invocations


def _event(partner: str, action: str, data: object) -> dict[str, object]:
    return {"partnerId": partner, "action": action, "data": data}


def _row(number: int, invocation: RuntimeInvocation, note: str) -> Row:
    event = invocation.event
    assert isinstance(event, dict)
    return Row(
        number=number,
        partner=str(event.get("partnerId")),
        action=str(event.get("action")),
        reply=invocation.body,
        duration_ms=invocation.answered_ms - invocation.sent_ms,
        outcome=invocation.outcome,
        note=note,
    )


def _payment_id(reply: Any) -> str:
    """The created payment's id, or one that cannot exist when the create failed (shown as not found)."""
    if isinstance(reply, dict) and reply.get("success"):
        return str(reply["data"]["paymentId"])
    return "pay_create_failed"


class _Driver:
    """Sends events one at a time and keeps a row per invocation."""

    def __init__(self, api: RuntimeApi) -> None:
        self.api = api
        self.rows: list[Row] = []

    def record(self, invocation: RuntimeInvocation, note: str = "") -> Any:
        self.api.wait(invocation, _WAIT_S)
        self.rows.append(_row(len(self.rows) + 1, invocation, note))
        return invocation.body

    def call(self, partner: str, action: str, data: object, note: str = "", *, key: str | None = None) -> Any:
        event = _event(partner, action, data)
        if key is not None:
            event["idempotencyKey"] = key
        return self.record(self.api.invoke(event, timeout_ms=_TIMEOUT_MS), note)


def _script(driver: _Driver, cold: RuntimeInvocation) -> None:
    """The warm invocations, after the cold one (partner1's first create)."""
    p1_payment = _payment_id(driver.record(cold, "100.50 USD (a float in the event)"))
    driver.call("partner1", "getPayment", {"paymentId": p1_payment}, "the payment of #1")
    p2_payment = _payment_id(
        driver.call("partner2", "createPayment", {"amount": 19.99, "currency": "EUR"}, "19.99 EUR")
    )
    driver.call("partner2", "getPayment", {"paymentId": p2_payment}, "the payment of #3")
    driver.call(
        "partner1", "createPayment", {"amount": 1500, "currency": "JPY"}, "1500 JPY (JPY has no minor unit)"
    )
    driver.call("partner2", "getPayment", {"paymentId": p1_payment}, "#1's id asked of partner2's account")
    driver.call("partner1", "getPayment", {"paymentId": "pay_does_not_exist"}, "no such payment")
    driver.call("partner3", "getPayment", {"paymentId": p1_payment}, "no PARTNER3_ROLE_ARN")
    driver.call("partner1", "createPayment", {"amount": 100.505, "currency": "USD"}, "100.505")
    driver.call("partner1", "createPayment", {"amount": 0.1 + 0.2, "currency": "USD"}, "0.1 + 0.2 as a float")
    driver.call("partner1", "createPayment", {"amount": "ten", "currency": "USD"}, "an amount in words")
    driver.call("partner1", "refundPayment", {"paymentId": p1_payment}, "no such action")
    # A client retrying after a lost reply: the same idempotencyKey gets the first reply back, and
    # no second payment is created.
    order = {"amount": 42, "currency": "USD"}
    driver.call("partner1", "createPayment", order, "idempotencyKey order-42", key="order-42")
    driver.call("partner1", "createPayment", order, "the same request again: from the store", key="order-42")


_IMPORT_PROBE: Final = (
    "import time\n"
    "started = time.perf_counter()\n"
    "import handler\n"
    "print((time.perf_counter() - started) * 1000)"
)


def _import_ms(env: dict[str, str], runs: int = 3) -> float:
    """The handler module's import alone in a fresh interpreter with the function's environment, best
    of `runs` (on a busy machine one sample can be off by half)."""
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE],
            cwd=HERE,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        samples.append(float(done.stdout))
    return min(samples)


def run(endpoint_url: str, *, prefix: str = "demo-") -> DemoRun:
    """Provision both partners on the moto server at `endpoint_url`, then run the script under the
    real runtime client; the Lambda process is stopped before returning."""
    partners = provision(endpoint_url, prefix)
    roles = {p.id: partners[f"PARTNER{p.n}_ROLE_ARN"] for p in PARTNERS}
    environ = function_env(endpoint_url, prefix, partners)
    with RuntimeApi() as api:
        process = LambdaProcess(
            api,
            "handler.handler",
            cwd=str(HERE),
            env=environ,
            memory_mb=512,
            function_name="payments",
        )
        # Queued before the process starts, the first event is handed out on the runtime's first
        # /next request, i.e. when init (interpreter, awslambdaric, handler import) is over.
        cold = api.invoke(
            _event("partner1", "createPayment", {"amount": 100.50, "currency": "USD"}), timeout_ms=_TIMEOUT_MS
        )
        started_ms = int(time.time() * 1000)
        process.start()
        stderr = ""
        try:
            driver = _Driver(api)
            _script(driver, cold)
        finally:
            stderr = process.stop()
    return DemoRun(
        init_ms=cold.sent_ms - started_ms,
        import_ms=_import_ms(environ),
        rows=tuple(driver.rows),
        roles=roles,
        prefix=prefix,
        stderr=stderr,
    )


# ------------------------------------------------------------------------------------------- output


def _shown_reply(reply: Any) -> str:
    text = json.dumps(reply, separators=(",", ":"))
    text = _PAY_ID.sub(r"\1…", text)  # ids stay recognisable at a quarter of their length
    return text if len(text) <= _REPLY_WIDTH else text[: _REPLY_WIDTH - 1] + "…"


def render(result: DemoRun) -> str:
    """The printed table: one line per invocation with its reply below, then init time and one full reply."""
    case_width = max([len(row.note) for row in result.rows] + [4])
    lines = [
        f"{'#':>3}  {'partner':<8}  {'action':<13}  {'case':<{case_width}}  {'ms':>4}",
        f"{'-' * 3}  {'-' * 8}  {'-' * 13}  {'-' * case_width}  {'-' * 4}",
    ]
    for row in result.rows:
        number = f"{row.number}*" if row.number == 1 else str(row.number)
        reply = _shown_reply(row.reply) if row.outcome == "response" else f"RAISED {row.reply}"
        lines.append(
            f"{number:>3}  {row.partner:<8}  {row.action:<13}  {row.note:<{case_width}}  {row.duration_ms:>4}"
        )
        lines.append(f"     -> {reply}")
    lines.append("")
    lines.append(
        "* the cold invocation: the process's first, so its loop, partner1's AssumeRole and connection"
    )
    lines.append(
        f"init: {result.init_ms} ms from process start to the runtime's first /next request "
        "(Python, awslambdaric, handler import; no I/O)"
    )
    lines.append(
        f"for reference, the handler module's import alone: {result.import_ms:.0f} ms "
        "(fresh interpreter, best of 3, measured afterwards)"
    )
    warm = sorted(row.duration_ms for row in result.rows[1:])
    if warm:
        lines.append(
            f"cold invocation: {result.rows[0].duration_ms} ms; warm: median {warm[len(warm) // 2]} ms, "
            f"max {warm[-1]} ms (#3 includes partner2's AssumeRole)"
        )
    lines.append("durations: from the Runtime API handing out the event to receiving the reply")
    lines.append("")
    lines.append("invocation 1's reply in full:")
    lines.append(json.dumps(result.rows[0].reply, indent=2) if result.rows else "(none)")
    return "\n".join(lines)


def main() -> int:
    begun = time.perf_counter()
    with MotoServer() as server:
        print(f"embedded moto server at {server.endpoint_url}")
        prefix = f"demo-{uuid.uuid4().hex[:6]}-"
        result = run(server.endpoint_url, prefix=prefix)
    for partner, arn in result.roles.items():
        print(f"{partner}: role {arn} (ExternalId required), table {prefix}payments in its account")
    print()
    print(render(result))
    print(f"\ndemo finished in {time.perf_counter() - begun:.1f} s")
    failed = [row.number for row in result.rows if row.outcome != "response"]
    if failed:
        print(f"\ninvocations {failed} raised instead of replying; the runtime's stderr:\n{result.stderr}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
