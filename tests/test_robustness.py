"""Every operation of every service Stratus speaks, called with random (seeded) inputs built from
botocore's own models: each answer is a success or an error the client reads (4xx, or 501 for an
operation Stratus does not implement), never a 5xx, a dropped connection or a hang."""

import random

import boto3
import botocore
import pytest
from botocore.config import Config

SERVICES = ["dynamodb", "logs", "cognito-idp", "lambda", "apigateway", "apigatewayv2", "sts", "s3"]
STRINGS = ["", "a", "abc", "x" * 300, "é", "🙂", "../..", "%00", "{}", "*", "ab/cd",
           "arn:aws:lambda:us-east-1:000000000000:function:f"]
# A Content-Length that does not match the body leaves the server waiting for the rest, as
# HTTP says it must; that is the client's lie, not a hang of the server's.
SKIPPED_MEMBERS = {"ContentLength"}
# Names that reach past the client's own checks (S3's client refuses most random bucket names).
NAMED = {"Bucket": ["fuzz-bucket", "fuzz-bucket", "no-such-bucket"], "Key": ["k", "a/b", "é"]}


def random_input(rng, shape, depth=0):
    t = shape.type_name
    if t == "structure":
        return {name: rng.choice(NAMED[name]) if name in NAMED and m.type_name == "string"
                else random_input(rng, m, depth + 1)
                for name, m in shape.members.items()
                if name not in SKIPPED_MEMBERS and depth < 4
                and (name in shape.required_members or rng.random() < 0.4)}
    if t == "list":
        return [random_input(rng, shape.member, depth + 1) for _ in range(rng.randrange(3 if depth < 4 else 1))]
    if t == "map":
        # Keys a client can send (S3 metadata keys become header names).
        key = (lambda: rng.choice(["a", "k1", "x-y"])) if shape.key.type_name == "string" else (
            lambda: random_input(rng, shape.key, depth + 1))
        return {key(): random_input(rng, shape.value, depth + 1)
                for _ in range(rng.randrange(3 if depth < 4 else 1))}
    if t == "string":
        return rng.choice(shape.enum) if shape.enum and rng.random() < 0.8 else rng.choice(STRINGS)
    if t in ("integer", "long"):
        return rng.choice([0, 1, -1, 100, 2**31 - 1, 2**31, -2**63, 10**18])
    if t in ("float", "double"):
        return rng.choice([0.0, -1.5, 3.0, 1e308])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "blob":
        return rng.choice([b"", b"\x00\xff", b"abc"])
    if t == "timestamp":
        return rng.choice([0, 1700000000, 4102444800])
    return None


@pytest.mark.parametrize("service", SERVICES)
def test_random_inputs_from_the_model_never_yield_a_server_error(stratus, service):
    rng = random.Random(f"{service}-20261201")
    client = boto3.client(service, endpoint_url=stratus.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test",
                          config=Config(parameter_validation=False, inject_host_prefix=False,
                                        retries={"max_attempts": 1}, read_timeout=30))
    if service == "s3":
        client.create_bucket(Bucket="fuzz-bucket")
        client.put_object(Bucket="fuzz-bucket", Key="k", Body=b"x")
    model = client.meta.service_model
    operations = list(model.operation_names)
    answered = {}
    for _ in range(300):
        op = rng.choice(operations)
        shape = model.operation_model(op).input_shape
        params = random_input(rng, shape) if shape else {}
        try:
            getattr(client, botocore.xform_name(op))(**params)
            status = 200
        except botocore.exceptions.ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        except (botocore.exceptions.ParamValidationError, botocore.exceptions.MissingDependencyException,
                botocore.exceptions.FlexibleChecksumError, TypeError, ValueError, KeyError, AttributeError):
            continue  # refused by the client before or after the wire: nothing to judge
        assert status < 500 or status == 501, (op, params, status)
        if status == 501:
            operations.remove(op)  # not implemented: the rest of the inputs go to those that are
            continue
        answered[status] = answered.get(status, 0) + 1
    # Enough inputs reached implemented operations to make the check mean something.
    assert sum(answered.values()) > 150, answered
