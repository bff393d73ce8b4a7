"""template.yaml: cfn-lint (AWS's CloudFormation linter, with the SAM transform) passes it with no
finding, and what it wires (paths, runtime, keys, trust policy, environment) matches the tools and the
library. No AWS account or Docker is needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from cfnlint.decode import decode  # type: ignore[import-untyped]

from aiotheory import DB, Accounts

_ROOT = Path(__file__).resolve().parents[2]
_TEMPLATE = _ROOT / "template.yaml"


def _cfn_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("cfn-lint")
    assert script.exists(), "cfn-lint (a test dependency) is not installed next to this Python"
    return subprocess.run([str(script), *map(str, paths)], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, problems = decode(str(_TEMPLATE))
    assert not problems
    assert isinstance(decoded, dict)
    return cast("dict[str, Any]", decoded)


def test_cfn_lint_passes_the_template() -> None:
    done = _cfn_lint(_TEMPLATE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_rejects_a_broken_copy(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    text = _TEMPLATE.read_text()
    assert "BillingMode: PAY_PER_REQUEST" in text
    broken.write_text(text.replace("BillingMode: PAY_PER_REQUEST", "BillingMode: ON_DEMAND"))
    done = _cfn_lint(broken)
    assert done.returncode == 2, done.stdout  # 2: errors
    assert "E3030" in done.stdout


def _resource(template: dict[str, Any], type_: str, name: str | None = None) -> dict[str, Any]:
    if name is not None:
        found = template["Resources"][name]
        assert found["Type"] == type_
        return cast("dict[str, Any]", found)
    [found] = [r for r in template["Resources"].values() if r["Type"] == type_]
    return cast("dict[str, Any]", found)


def test_function_runs_the_handler_zip_on_python311_x86_64_with_the_layer(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    function = _resource(template, "AWS::Serverless::Function")["Properties"]
    assert function["Runtime"] == "python3.11"
    assert function["Architectures"] == ["x86_64"]
    assert function["Handler"] == "handler.handler"
    # The paths `nox -s lambda-package` / `lambda-layer` write (tools/package_lambda.py defaults).
    assert function["CodeUri"] == "dist/payments-handler.zip"
    [layer_name] = [
        name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::LayerVersion"
    ]
    assert function["Layers"] == [{"Ref": layer_name}]
    layer = template["Resources"][layer_name]["Properties"]
    assert layer["ContentUri"] == "dist/aiotheory-layer.zip"
    assert layer["CompatibleRuntimes"] == ["python3.11"]
    assert layer["CompatibleArchitectures"] == ["x86_64"]
    # The paths `nox -s lambda-layer` / `lambda-package` write for the payments example by default.
    tool = (_ROOT / "tools" / "package_lambda.py").read_text()
    assert '"aiotheory-layer.zip"' in tool
    import importlib.util

    spec = importlib.util.spec_from_file_location("_package_lambda", _ROOT / "tools" / "package_lambda.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module of their class
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    function_zip, handler_zip = module.output_paths(_ROOT / "examples" / "lambda_payments")
    assert (function_zip.name, handler_zip.name) == ("payments-function.zip", "payments-handler.zip")


def test_table_keys_billing_and_ttl(template: dict[str, Any]) -> None:
    table = _resource(template, "AWS::DynamoDB::Table", "PaymentsTable")["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "partner_id", "KeyType": "HASH"},
        {"AttributeName": "id", "KeyType": "RANGE"},
    ]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    assert table["TableName"] == {"Fn::Sub": "${TablePrefix}payments"}


def test_table_matches_the_payment_model(template: dict[str, Any]) -> None:
    """The deployed table and the model the handler uses must agree: keys, key types and TTL attribute."""
    import importlib.util
    import sys

    from aiotheory.model import schema_of

    path = _ROOT / "examples" / "lambda_payments" / "models.py"
    spec = importlib.util.spec_from_file_location("_payments_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the model's annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        schema = schema_of(module.Payment)
    finally:
        del sys.modules[spec.name]
    table = _resource(template, "AWS::DynamoDB::Table", "PaymentsTable")["Properties"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == [schema.pk.stored, schema.sk.stored]
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    assert types == {schema.pk.stored: schema.pk.type, schema.sk.stored: schema.sk.type}
    assert schema.ttl is not None
    assert table["TimeToLiveSpecification"]["AttributeName"] == schema.ttl.stored


def test_idempotency_table_matches_the_store_and_the_function_may_use_it(template: dict[str, Any]) -> None:
    """createPayment records idempotency keys in the function's own account: the table must exist with
    the store's key and TTL attribute, and the function's role must reach it (and nothing more)."""
    from aiotheory import DB, IdempotencyStore
    from aiotheory.model import schema_of

    store = IdempotencyStore(DB(region="us-east-1"), table="idempotency")
    schema = schema_of(store.model)
    table = _resource(template, "AWS::DynamoDB::Table", "IdempotencyTable")["Properties"]
    assert table["TableName"] == {"Fn::Sub": "${TablePrefix}idempotency"}
    assert table["KeySchema"] == [{"AttributeName": schema.pk.stored, "KeyType": "HASH"}]
    assert schema.sk is None
    assert table["AttributeDefinitions"] == [{"AttributeName": schema.pk.stored, "AttributeType": "S"}]
    assert schema.ttl is not None
    assert table["TimeToLiveSpecification"] == {"AttributeName": schema.ttl.stored, "Enabled": True}
    policy = template["Resources"]["IdempotencyTablePolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "PaymentsFunctionRole"}]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    assert set(statement["Action"]) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    handler = (_ROOT / "examples" / "lambda_payments" / "handler.py").read_text()
    assert '"idempotency"' in handler


def test_partner_role_trusts_the_function_role_only_with_the_external_id(template: dict[str, Any]) -> None:
    role = template["Resources"]["PartnerRole"]["Properties"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": {"Fn::GetAtt": ["PaymentsFunctionRole", "Arn"]}}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "Partner1ExternalId"}}}
    assert template["Parameters"]["Partner1ExternalId"]["NoEcho"] is True


def _resolve(value: Any, parameters: dict[str, str]) -> str:
    """Enough of CloudFormation's intrinsics for the environment block, given parameter values."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return parameters[value["Ref"]]
    if "Fn::If" in value:  # LocalPartnerRole is false when a partner role ARN is given
        _, when_local, otherwise = value["Fn::If"]
        return _resolve(otherwise if parameters["Partner1RoleArn"] else when_local, parameters)
    raise AssertionError(f"unexpected intrinsic {value!r}")


def test_environment_is_what_the_library_reads(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    function = _resource(template, "AWS::Serverless::Function")["Properties"]
    variables = function["Environment"]["Variables"]
    assert set(variables) == {
        "AIOTHEORY_TABLE_PREFIX",
        "PARTNER1_ROLE_ARN",
        "PARTNER1_EXTERNAL_ID",
        "PARTNER1_REGION",
    }
    parameters = {
        "TablePrefix": "prod-",
        "Partner1RoleArn": "arn:aws:iam::222222222222:role/payments-partner1",
        "Partner1ExternalId": "ext-partner1",
        "Partner1Region": "eu-west-1",
    }
    assert set(parameters) == set(template["Parameters"])
    env = {name: _resolve(value, parameters) for name, value in variables.items()}

    monkeypatch.setenv("AIOTHEORY_TABLE_PREFIX", env["AIOTHEORY_TABLE_PREFIX"])
    db = DB(region="us-east-1", credentials=("k", "s"))
    assert db.table_prefix == "prod-"
    accounts = Accounts.from_env(base=db, environ=env)
    assert list(accounts) == ["partner1"]
    config = accounts.config("partner1")
    assert (config.role_arn, config.external_id, config.region) == (
        "arn:aws:iam::222222222222:role/payments-partner1",
        "ext-partner1",
        "eu-west-1",
    )
