"""API Gateway REST APIs end to end: APIs built with boto3 and the AWS CLI, deployed to stages
and called over real HTTP — MOCK, Lambda proxy and non-proxy (mapping templates), HTTP
integrations, API keys with usage plans, Lambda authorizers, validation, OpenAPI import and
export, the stage cache and custom domain names."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from botocore.exceptions import ClientError

from test_apigateway import ACCOUNT, REGION, code_of, function, log_lines

INVOKE = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations"


def rest_call(stratus, api_id, path, method="GET", **kw):
    headers = dict(kw.pop("headers", {}) or {})
    headers["Host"] = f"{api_id}.execute-api.localhost:{stratus.port}"
    return requests.request(method, stratus.url + path, headers=headers, timeout=60, **kw)


def new_api(stratus, name="rest", **kw):
    gw = stratus.client("apigateway")
    api = gw.create_rest_api(name=name, **kw)
    return gw, api["id"], api["rootResourceId"]


def resource(gw, api_id, parent, *parts):
    for part in parts:
        parent = gw.create_resource(restApiId=api_id, parentId=parent, pathPart=part)["id"]
    return parent


def proxy_method(gw, api_id, rid, arn, verb="ANY", **method):
    gw.put_method(restApiId=api_id, resourceId=rid, httpMethod=verb, authorizationType=method.pop("auth", "NONE"),
                  **method)
    gw.put_integration(restApiId=api_id, resourceId=rid, httpMethod=verb, type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=INVOKE.format(arn))


def mock_method(gw, api_id, rid, verb="GET", body='{"ok": true}', **method):
    gw.put_method(restApiId=api_id, resourceId=rid, httpMethod=verb, authorizationType=method.pop("auth", "NONE"),
                  **method)
    gw.put_integration(restApiId=api_id, resourceId=rid, httpMethod=verb, type="MOCK",
                       requestTemplates={"application/json": '{"statusCode": 200}'})
    gw.put_method_response(restApiId=api_id, resourceId=rid, httpMethod=verb, statusCode="200")
    gw.put_integration_response(restApiId=api_id, resourceId=rid, httpMethod=verb, statusCode="200",
                                responseTemplates={"application/json": body})


def test_mock_integration_templates_and_errors(stratus):
    gw, api_id, root = new_api(stratus)
    rid = resource(gw, api_id, root, "hello")
    gw.put_method(restApiId=api_id, resourceId=rid, httpMethod="GET", authorizationType="NONE")
    gw.put_integration(restApiId=api_id, resourceId=rid, httpMethod="GET", type="MOCK", requestTemplates={
        "application/json": '#if($input.params("fail") == "yes"){"statusCode": 404}#else{"statusCode": 200}#end'})
    for status in ("200", "404"):
        gw.put_method_response(restApiId=api_id, resourceId=rid, httpMethod="GET", statusCode=status,
                               responseParameters={"method.response.header.X-Kind": False})
    gw.put_integration_response(
        restApiId=api_id, resourceId=rid, httpMethod="GET", statusCode="200",
        responseParameters={"method.response.header.X-Kind": "'mock'"},
        responseTemplates={"application/json":
                           '{"hello": "$input.params(\'name\')", "stage": "$context.stage", "id": "$context.requestId"}'})
    gw.put_integration_response(restApiId=api_id, resourceId=rid, httpMethod="GET", statusCode="404",
                                selectionPattern="404",
                                responseTemplates={"application/json": '{"error": "no such thing"}'})
    # Not deployed yet: the stage does not exist.
    assert rest_call(stratus, api_id, "/dev/hello").json() == {"message": "Forbidden"}
    d = gw.create_deployment(restApiId=api_id, stageName="dev", description="first")
    assert gw.get_stage(restApiId=api_id, stageName="dev")["deploymentId"] == d["id"]

    r = rest_call(stratus, api_id, "/dev/hello?name=ann")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hello"] == "ann" and body["stage"] == "dev" and body["id"] == r.headers["x-amzn-requestid"]
    assert r.headers["x-kind"] == "mock"
    r = rest_call(stratus, api_id, "/dev/hello?fail=yes")
    assert r.status_code == 404 and r.json() == {"error": "no such thing"}
    r = rest_call(stratus, api_id, "/dev/nothing")
    assert r.status_code == 403 and r.json() == {"message": "Missing Authentication Token"}
    assert rest_call(stratus, api_id, "/dev/hello", method="POST").status_code == 403
    assert rest_call(stratus, api_id, "/prod/hello").json() == {"message": "Forbidden"}

    # TestInvokeMethod runs the live configuration.
    t = gw.test_invoke_method(restApiId=api_id, resourceId=rid, httpMethod="GET", pathWithQueryString="/hello?name=bo")
    assert t["status"] == 200 and json.loads(t["body"])["hello"] == "bo"


def test_lambda_proxy_event_errors_and_binary(stratus):
    echo = function(stratus, "echo", code=(
        "import json, base64\n"
        "def handler(event, context):\n"
        "    if event['path'].endswith('/png'):\n"
        "        return {'statusCode': 200, 'headers': {'content-type': 'image/png'},\n"
        "                'body': base64.b64encode(b'\\x89PNG').decode(), 'isBase64Encoded': True}\n"
        "    return {'statusCode': 200, 'multiValueHeaders': {'x-m': ['a', 'b']}, 'body': json.dumps(event)}\n"))
    broken = function(stratus, "broken", code="def handler(e, c):\n    return {'body': 'no status'}\n")
    raising = function(stratus, "raising", code="def handler(e, c):\n    raise RuntimeError('x')\n")
    gw, api_id, root = new_api(stratus, binaryMediaTypes=["image/png"])
    proxy_method(gw, api_id, resource(gw, api_id, root, "{proxy+}"), echo)
    proxy_method(gw, api_id, resource(gw, api_id, root, "broken"), broken, verb="GET")
    proxy_method(gw, api_id, resource(gw, api_id, root, "raising"), raising, verb="GET")
    gw.create_deployment(restApiId=api_id, stageName="prod", variables={"color": "blue"})

    r = rest_call(stratus, api_id, "/prod/items/42?a=1&a=2", method="PUT", data='{"x": 1}',
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["x-m"] == "a, b"
    e = r.json()
    assert e["resource"] == "/{proxy+}" and e["path"] == "/items/42" and e["httpMethod"] == "PUT"
    assert e["pathParameters"] == {"proxy": "items/42"} and e["stageVariables"] == {"color": "blue"}
    assert e["queryStringParameters"] == {"a": "2"} and e["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert e["body"] == '{"x": 1}' and e["isBase64Encoded"] is False
    ctx = e["requestContext"]
    assert ctx["stage"] == "prod" and ctx["path"] == "/prod/items/42" and ctx["resourcePath"] == "/{proxy+}"
    assert ctx["accountId"] == ACCOUNT and ctx["apiId"] == api_id and ctx["identity"]["sourceIp"] == "127.0.0.1"

    # Binary media types: the body reaches the function base64-encoded; the answer is decoded
    # for a client that accepts the type.
    r = rest_call(stratus, api_id, "/prod/upload", method="POST", data=b"\x00\x01",
                  headers={"Content-Type": "image/png"})
    e = r.json()
    assert e["isBase64Encoded"] is True and base64.b64decode(e["body"]) == b"\x00\x01"
    r = rest_call(stratus, api_id, "/prod/png", headers={"Accept": "image/png"})
    assert r.content == b"\x89PNG"

    for path in ("/prod/broken", "/prod/raising"):
        r = rest_call(stratus, api_id, path)
        assert r.status_code == 502 and r.json() == {"message": "Internal server error"}, path


NON_PROXY = """
def handler(event, context):
    if event.get("name") == "missing":
        raise Exception("NotFound: no user missing")
    return {"greeting": "hello " + event["name"], "items": [{"n": i} for i in event["items"]]}
"""


def test_lambda_with_mapping_templates(stratus):
    arn = function(stratus, "nonproxy", code=NON_PROXY)
    gw, api_id, root = new_api(stratus)
    rid = resource(gw, api_id, root, "users", "{name}")
    gw.put_method(restApiId=api_id, resourceId=rid, httpMethod="POST", authorizationType="NONE")
    gw.put_integration(restApiId=api_id, resourceId=rid, httpMethod="POST", type="AWS", integrationHttpMethod="POST",
                       uri=INVOKE.format(arn), requestTemplates={"application/json": (
                           '{"name": "$input.params(\'name\')", "items": $input.json(\'$.items\'), '
                           '"agent": "$util.escapeJavaScript($input.params(\'User-Agent\'))"}')})
    for status in ("200", "404"):
        gw.put_method_response(restApiId=api_id, resourceId=rid, httpMethod="POST", statusCode=status)
    gw.put_integration_response(restApiId=api_id, resourceId=rid, httpMethod="POST", statusCode="200",
                                responseTemplates={"application/json": (
                                    '#set($r = $input.path(\'$\'))\n'
                                    '{"message": "$r.greeting", "count": $r.items.size(), "ns": [\n'
                                    '#foreach($i in $r.items)\n'
                                    '  $i.n#if($foreach.hasNext),#end\n'
                                    '#end\n'
                                    ']}')})
    gw.put_integration_response(restApiId=api_id, resourceId=rid, httpMethod="POST", statusCode="404",
                                selectionPattern="NotFound:.*",
                                responseTemplates={"application/json":
                                                   '{"error": "$input.path(\'$.errorMessage\')"}'})
    gw.create_deployment(restApiId=api_id, stageName="v1")
    r = rest_call(stratus, api_id, "/v1/users/ann", method="POST", json={"items": [1, 2, 3]})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "hello ann", "count": 3, "ns": [1, 2, 3]}
    r = rest_call(stratus, api_id, "/v1/users/missing", method="POST", json={"items": []})
    assert r.status_code == 404 and r.json() == {"error": "NotFound: no user missing"}


def test_api_keys_and_usage_plans(stratus):
    gw, api_id, root = new_api(stratus)
    mock_method(gw, api_id, resource(gw, api_id, root, "paid"), apiKeyRequired=True)
    gw.create_deployment(restApiId=api_id, stageName="prod")
    key = gw.create_api_key(name="customer", enabled=True, value="k" * 30)
    assert key["enabled"] is True and "value" in key
    stray = gw.create_api_key(name="stray", enabled=True)

    assert rest_call(stratus, api_id, "/prod/paid").json() == {"message": "Forbidden"}
    # A key in no usage plan of the stage is refused too.
    assert rest_call(stratus, api_id, "/prod/paid", headers={"x-api-key": "k" * 30}).status_code == 403
    plan = gw.create_usage_plan(name="basic", apiStages=[{"apiId": api_id, "stage": "prod"}],
                                quota={"limit": 3, "period": "DAY"}, throttle={"rateLimit": 100, "burstLimit": 100})
    gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    assert [k["name"] for k in gw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == ["customer"]
    statuses = [rest_call(stratus, api_id, "/prod/paid", headers={"x-api-key": "k" * 30}).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = rest_call(stratus, api_id, "/prod/paid", headers={"x-api-key": "k" * 30})
    assert r.json() == {"message": "Limit Exceeded"}
    assert rest_call(stratus, api_id, "/prod/paid", headers={"x-api-key": stray["value"]}).status_code == 403
    assert rest_call(stratus, api_id, "/prod/paid", headers={"x-api-key": "forged" * 5}).status_code == 403
    today = time.strftime("%Y-%m-%d", time.gmtime())
    usage = gw.get_usage(usagePlanId=plan["id"], startDate=today, endDate=today, keyId=key["id"])
    assert sum(day[0] for day in usage["items"][key["id"]]) == 3

    # A disabled key is refused.
    gw.update_api_key(apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
    assert gw.get_api_key(apiKey=key["id"])["enabled"] is False
    assert rest_call(stratus, api_id, "/prod/paid", headers={"x-api-key": "k" * 30}).status_code == 403
    with pytest.raises(ClientError) as e:
        gw.create_api_key(name="dup", value="k" * 30)
    assert code_of(e) == "ConflictException"


TOKEN_AUTHORIZER = """
def handler(event, context):
    token = event["authorizationToken"]
    if token == "unauthorized":
        raise Exception("Unauthorized")
    effect = "Allow" if token == "allow" else "Deny"
    return {"principalId": "user-" + token, "context": {"plan": "gold", "n": 1},
            "policyDocument": {"Version": "2012-10-17",
                               "Statement": [{"Action": "execute-api:Invoke", "Effect": effect,
                                              "Resource": event["methodArn"]}]}}
"""

REQUEST_AUTHORIZER = """
def handler(event, context):
    ok = event["queryStringParameters"].get("key") == "open"
    arn = event["methodArn"].split("/")[0] + "/*"
    return {"principalId": "q", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow" if ok else "Deny", "Resource": arn}]}}
"""


def test_token_and_request_authorizers(stratus):
    echo = function(stratus, "echo", code=(
        "import json\ndef handler(e, c):\n"
        "    return {'statusCode': 200, 'body': json.dumps(e['requestContext']['authorizer'])}\n"))
    token_fn = function(stratus, "token-auth", code=TOKEN_AUTHORIZER)
    request_fn = function(stratus, "request-auth", code=REQUEST_AUTHORIZER)
    gw, api_id, root = new_api(stratus)
    token = gw.create_authorizer(restApiId=api_id, name="token", type="TOKEN", authorizerUri=INVOKE.format(token_fn),
                                 identitySource="method.request.header.Authorization",
                                 identityValidationExpression="^[a-z]+$", authorizerResultTtlInSeconds=0)["id"]
    req = gw.create_authorizer(restApiId=api_id, name="req", type="REQUEST", authorizerUri=INVOKE.format(request_fn),
                               identitySource="method.request.querystring.key",
                               authorizerResultTtlInSeconds=300)["id"]
    proxy_method(gw, api_id, resource(gw, api_id, root, "token"), echo, verb="GET", auth="CUSTOM",
                 authorizerId=token)
    proxy_method(gw, api_id, resource(gw, api_id, root, "request"), echo, verb="GET", auth="CUSTOM",
                 authorizerId=req)
    gw.create_deployment(restApiId=api_id, stageName="prod")

    r = rest_call(stratus, api_id, "/prod/token", headers={"Authorization": "allow"})
    assert r.status_code == 200, r.text
    assert r.json() == {"plan": "gold", "n": 1, "principalId": "user-allow"}
    r = rest_call(stratus, api_id, "/prod/token", headers={"Authorization": "deny"})
    assert r.status_code == 403
    assert r.json() == {"Message": "User is not authorized to access this resource with an explicit deny"}
    for headers in ({}, {"Authorization": "unauthorized"}, {"Authorization": "NOT-VALID-123"}):
        r = rest_call(stratus, api_id, "/prod/token", headers=headers)
        assert r.status_code == 401 and r.json() == {"message": "Unauthorized"}, headers

    assert rest_call(stratus, api_id, "/prod/request?key=open").status_code == 200
    assert rest_call(stratus, api_id, "/prod/request?key=shut").status_code == 403
    assert rest_call(stratus, api_id, "/prod/request").status_code == 401


def test_request_validation(stratus):
    gw, api_id, root = new_api(stratus)
    rid = resource(gw, api_id, root, "orders")
    gw.create_model(restApiId=api_id, name="Order", contentType="application/json", schema=json.dumps({
        "$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["item", "qty"],
        "properties": {"item": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}))
    v = gw.create_request_validator(restApiId=api_id, name="all", validateRequestBody=True,
                                    validateRequestParameters=True)
    mock_method(gw, api_id, rid, verb="POST", requestValidatorId=v["id"],
                requestParameters={"method.request.querystring.store": True, "method.request.header.x-trace": False},
                requestModels={"application/json": "Order"})
    gw.create_deployment(restApiId=api_id, stageName="prod")
    ok = {"item": "pen", "qty": 2}
    assert rest_call(stratus, api_id, "/prod/orders?store=1", method="POST", json=ok).status_code == 200
    r = rest_call(stratus, api_id, "/prod/orders", method="POST", json=ok)
    assert r.status_code == 400 and r.json() == {"message": "Missing required request parameters: [store]"}
    for bad in ({"item": "pen"}, {"item": "pen", "qty": 0}, {"item": 5, "qty": 1}):
        r = rest_call(stratus, api_id, "/prod/orders?store=1", method="POST", json=bad)
        assert r.status_code == 400 and r.json() == {"message": "Invalid request body"}, bad


OPENAPI = {
    "openapi": "3.0.1",
    "info": {"title": "pets", "version": "2"},
    "paths": {
        "/pets": {
            "get": {
                "responses": {"200": {"description": "ok"}},
                "x-amazon-apigateway-integration": {
                    "type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
                    "responses": {"default": {"statusCode": "200",
                                              "responseTemplates": {"application/json": "[{\"id\": 1}]"}}},
                },
            },
        },
        "/pets/{id}": {
            "get": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "security": [{"api_key": []}],
                "x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": "URI"},
            },
        },
    },
    "components": {
        "securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
        "schemas": {"Pet": {"type": "object", "properties": {"id": {"type": "integer"}}}},
    },
}


def test_openapi_import_and_export(stratus, tmp_path):
    arn = function(stratus, "pet", code=(
        "import json\ndef handler(e, c):\n"
        "    return {'statusCode': 200, 'body': json.dumps({'id': e['pathParameters']['id']})}\n"))
    doc = json.loads(json.dumps(OPENAPI).replace('"URI"', json.dumps(INVOKE.format(arn))))
    (tmp_path / "api.json").write_text(json.dumps(doc))
    api = json.loads(stratus.cli("apigateway", "import-rest-api", "--body", f"fileb://{tmp_path / 'api.json'}").stdout)
    api_id = api["id"]
    assert api["name"] == "pets" and api["version"] == "2"
    gw = stratus.client("apigateway")
    paths = sorted(r["path"] for r in gw.get_resources(restApiId=api_id)["items"])
    assert paths == ["/", "/pets", "/pets/{id}"]
    assert [m["name"] for m in gw.get_models(restApiId=api_id)["items"]] == ["Pet"]
    gw.create_deployment(restApiId=api_id, stageName="v2")
    assert rest_call(stratus, api_id, "/v2/pets").json() == [{"id": 1}]
    assert rest_call(stratus, api_id, "/v2/pets/7").status_code == 403  # the API key is required
    key = gw.create_api_key(name="k", enabled=True)
    plan = gw.create_usage_plan(name="p", apiStages=[{"apiId": api_id, "stage": "v2"}])
    gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    assert rest_call(stratus, api_id, "/v2/pets/7", headers={"x-api-key": key["value"]}).json() == {"id": "7"}

    for kind, version_key in (("oas30", "openapi"), ("swagger", "swagger")):
        out = gw.get_export(restApiId=api_id, stageName="v2", exportType=kind, accepts="application/json")
        exported = json.loads(out["body"].read())
        assert version_key in exported
        assert exported["paths"]["/pets"]["get"]["x-amazon-apigateway-integration"]["type"] == "mock"
        assert exported["paths"]["/pets/{id}"]["get"]["security"] == [{"api_key": []}]
    yaml_export = gw.get_export(restApiId=api_id, stageName="v2", exportType="oas30", accepts="application/yaml")
    assert yaml_export["contentType"] == "application/yaml"
    text = yaml_export["body"].read().decode()
    assert "x-amazon-apigateway-integration" in text and "/pets/{id}" in text
    # The YAML export imports back as a new API with the same resources.
    again = gw.import_rest_api(body=text.encode())
    assert sorted(r["path"] for r in gw.get_resources(restApiId=again["id"])["items"]) == ["/", "/pets", "/pets/{id}"]
    # PutRestApi overwrite replaces the definition.
    doc["paths"] = {"/only": doc["paths"]["/pets"]}
    gw.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(doc).encode())
    assert sorted(r["path"] for r in gw.get_resources(restApiId=api_id)["items"]) == ["/", "/only"]
    with pytest.raises(ClientError) as e:
        gw.import_rest_api(body=b"not a definition")
    assert code_of(e) == "BadRequestException"


def test_stage_cache_and_throttling(stratus):
    counter = function(stratus, "counter", code=(
        "n = 0\ndef handler(e, c):\n    global n\n    n += 1\n    return {'statusCode': 200, 'body': str(n)}\n"))
    gw, api_id, root = new_api(stratus)
    proxy_method(gw, api_id, resource(gw, api_id, root, "count"), counter, verb="GET")
    gw.create_deployment(restApiId=api_id, stageName="prod")
    assert rest_call(stratus, api_id, "/prod/count").text == "1"
    assert rest_call(stratus, api_id, "/prod/count").text == "2"
    gw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/cacheClusterEnabled", "value": "true"},
        {"op": "replace", "path": "/*/*/caching/enabled", "value": "true"},
        {"op": "replace", "path": "/*/*/caching/ttlInSeconds", "value": "300"}])
    stage = gw.get_stage(restApiId=api_id, stageName="prod")
    assert stage["cacheClusterEnabled"] is True and stage["methodSettings"]["*/*"]["cachingEnabled"] is True
    first = rest_call(stratus, api_id, "/prod/count").text
    assert rest_call(stratus, api_id, "/prod/count").text == first
    gw.flush_stage_cache(restApiId=api_id, stageName="prod")
    assert rest_call(stratus, api_id, "/prod/count").text == str(int(first) + 1)

    gw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/caching/enabled", "value": "false"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "1"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.001"}])
    assert rest_call(stratus, api_id, "/prod/count").status_code == 200
    r = rest_call(stratus, api_id, "/prod/count")
    assert r.status_code == 429 and r.json() == {"message": "Too Many Requests"}


def test_custom_domain_base_path_mappings(stratus):
    gw = stratus.client("apigateway")
    apis = []
    for body in ('{"api": 1}', '{"api": 2}'):
        _, api_id, root = new_api(stratus)
        mock_method(gw, api_id, resource(gw, api_id, root, "hello"), body=body)
        gw.create_deployment(restApiId=api_id, stageName="prod")
        apis.append(api_id)
    gw.create_domain_name(domainName="api.example.test", regionalCertificateArn="arn:aws:acm:us-east-1:0:certificate/x")
    gw.create_base_path_mapping(domainName="api.example.test", basePath="v1", restApiId=apis[0], stage="prod")
    gw.create_base_path_mapping(domainName="api.example.test", basePath="v2", restApiId=apis[1], stage="prod")
    host = {"Host": f"api.example.test:{stratus.port}"}
    assert requests.get(f"{stratus.url}/v1/hello", headers=host, timeout=30).json() == {"api": 1}
    assert requests.get(f"{stratus.url}/v2/hello", headers=host, timeout=30).json() == {"api": 2}
    assert requests.get(f"{stratus.url}/v3/hello", headers=host, timeout=30).status_code == 403
    mappings = gw.get_base_path_mappings(domainName="api.example.test")["items"]
    assert sorted(m["basePath"] for m in mappings) == ["v1", "v2"]
    gw.delete_base_path_mapping(domainName="api.example.test", basePath="v2")
    assert requests.get(f"{stratus.url}/v2/hello", headers=host, timeout=30).status_code == 403


def test_http_integrations(stratus):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            data = json.dumps({"path": self.path, "trace": self.headers.get("x-trace")}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("x-backend", "b1")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        gw, api_id, root = new_api(stratus)
        proxy = resource(gw, api_id, root, "proxy", "{proxy+}")
        gw.put_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE",
                      requestParameters={"method.request.path.proxy": True})
        gw.put_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="HTTP_PROXY",
                           integrationHttpMethod="ANY", uri=base + "/up/{proxy}",
                           requestParameters={"integration.request.path.proxy": "method.request.path.proxy"})
        mapped = resource(gw, api_id, root, "mapped")
        gw.put_method(restApiId=api_id, resourceId=mapped, httpMethod="GET", authorizationType="NONE")
        gw.put_integration(restApiId=api_id, resourceId=mapped, httpMethod="GET", type="HTTP",
                           integrationHttpMethod="GET", uri=base + "/backend",
                           requestParameters={"integration.request.header.x-trace": "'t-1'",
                                              "integration.request.querystring.q": "method.request.querystring.q"})
        gw.put_method_response(restApiId=api_id, resourceId=mapped, httpMethod="GET", statusCode="200")
        gw.put_integration_response(restApiId=api_id, resourceId=mapped, httpMethod="GET", statusCode="200",
                                    responseParameters={"method.response.header.x-from": "integration.response.header.x-backend"},
                                    responseTemplates={"application/json": '{"seen": $input.json(\'$.path\'), "trace": "$input.path(\'$.trace\')"}'})
        gw.create_deployment(restApiId=api_id, stageName="prod")
        r = rest_call(stratus, api_id, "/prod/proxy/a/b?x=1")
        assert r.status_code == 200 and r.json()["path"] == "/up/a/b?x=1" and r.headers["x-backend"] == "b1"
        r = rest_call(stratus, api_id, "/prod/mapped?q=z")
        assert r.status_code == 200, r.text
        assert r.json() == {"seen": "/backend?q=z", "trace": "t-1"} and r.headers["x-from"] == "b1"
    finally:
        httpd.shutdown()


def test_control_plane_patches_and_errors(stratus):
    gw, api_id, root = new_api(stratus, description="d")
    assert gw.get_rest_api(restApiId=api_id)["apiKeySource"] == "HEADER"
    gw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "add", "path": "/binaryMediaTypes/image~1jpeg", "value": ""}])
    api = gw.get_rest_api(restApiId=api_id)
    assert api["name"] == "renamed" and api["binaryMediaTypes"] == ["image/jpeg"]
    a = resource(gw, api_id, root, "a")
    b = resource(gw, api_id, a, "b")
    with pytest.raises(ClientError) as e:
        gw.create_resource(restApiId=api_id, parentId=root, pathPart="a")
    assert code_of(e) == "ConflictException"
    resource(gw, api_id, a, "{id}")
    with pytest.raises(ClientError) as e:
        gw.create_resource(restApiId=api_id, parentId=a, pathPart="{other}")
    assert code_of(e) == "BadRequestException"
    assert gw.get_resource(restApiId=api_id, resourceId=b)["path"] == "/a/b"
    with pytest.raises(ClientError) as e:
        gw.create_deployment(restApiId=api_id, stageName="x")
    assert code_of(e) == "BadRequestException"  # no methods
    gw.put_method(restApiId=api_id, resourceId=b, httpMethod="GET", authorizationType="NONE")
    with pytest.raises(ClientError) as e:
        gw.put_method(restApiId=api_id, resourceId=b, httpMethod="GET", authorizationType="NONE")
    assert code_of(e) == "ConflictException"
    with pytest.raises(ClientError) as e:
        gw.get_integration(restApiId=api_id, resourceId=b, httpMethod="GET")
    assert code_of(e) == "NotFoundException"
    with pytest.raises(ClientError) as e:
        gw.put_integration(restApiId=api_id, resourceId=b, httpMethod="GET", type="HTTP", uri="ftp://x",
                           integrationHttpMethod="GET")
    assert code_of(e) == "BadRequestException"
    # Deleting a resource removes its children.
    gw.delete_resource(restApiId=api_id, resourceId=a)
    with pytest.raises(ClientError) as e:
        gw.get_resource(restApiId=api_id, resourceId=b)
    assert code_of(e) == "NotFoundException"
    with pytest.raises(ClientError) as e:
        gw.get_rest_api(restApiId="nope")
    assert code_of(e) == "NotFoundException"
    arn = f"arn:aws:apigateway:{REGION}::/restapis/{api_id}"
    gw.tag_resource(resourceArn=arn, tags={"team": "x"})
    assert gw.get_tags(resourceArn=arn)["tags"] == {"team": "x"}
    listed = stratus.cli("apigateway", "get-rest-apis")
    assert api_id in listed.stdout
    gw.delete_rest_api(restApiId=api_id)
    assert rest_call(stratus, api_id, "/x/y").status_code == 404


def test_rest_access_logs(stratus):
    gw, api_id, root = new_api(stratus)
    mock_method(gw, api_id, resource(gw, api_id, root, "logged"))
    gw.create_deployment(restApiId=api_id, stageName="prod")
    gw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn",
         "value": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:rest-access"},
        {"op": "replace", "path": "/accessLogSettings/format",
         "value": "$context.requestId $context.httpMethod $context.resourcePath $context.status"}])
    r = rest_call(stratus, api_id, "/prod/logged")
    assert r.status_code == 200
    expected = f"{r.headers['x-amzn-requestid']} GET /logged 200"
    assert expected in log_lines(stratus, "rest-access", 1)


def cognito_user(stratus, username="ann", password="Correct-Horse-9"):
    """A user pool with one confirmed user; (pool, client id, tokens)."""
    idp = stratus.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="users")["UserPool"]
    cid = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web",
                                      ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                         "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool["Id"], Username=username, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}])
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username=username, Password=password, Permanent=True)
    tokens = idp.initiate_auth(ClientId=cid, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": username, "PASSWORD": password})["AuthenticationResult"]
    return pool, cid, tokens


def test_cognito_user_pool_authorizer(stratus):
    echo = function(stratus, "claims", code=(
        "import json\ndef handler(e, c):\n"
        "    return {'statusCode': 200, 'body': json.dumps(e['requestContext']['authorizer'])}\n"))
    pool, _, tokens = cognito_user(stratus)
    other_pool, _, other_tokens = cognito_user(stratus, username="eve")
    gw, api_id, root = new_api(stratus)
    auth = gw.create_authorizer(restApiId=api_id, name="users", type="COGNITO_USER_POOLS",
                                providerARNs=[pool["Arn"]],
                                identitySource="method.request.header.Authorization")["id"]
    proxy_method(gw, api_id, resource(gw, api_id, root, "me"), echo, verb="GET", auth="COGNITO_USER_POOLS",
                 authorizerId=auth)
    proxy_method(gw, api_id, resource(gw, api_id, root, "admin"), echo, verb="GET", auth="COGNITO_USER_POOLS",
                 authorizerId=auth, authorizationScopes=["aws.cognito.signin.user.admin"])
    # A mapping template reads a claim through $context.
    rid = resource(gw, api_id, root, "email")
    mock_method(gw, api_id, rid, body='{"email": "$context.authorizer.claims.email"}', auth="COGNITO_USER_POOLS",
                authorizerId=auth)
    gw.create_deployment(restApiId=api_id, stageName="prod")

    r = rest_call(stratus, api_id, "/prod/me", headers={"Authorization": tokens["IdToken"]})
    assert r.status_code == 200, r.text
    claims = r.json()["claims"]
    assert claims["cognito:username"] == "ann" and claims["email"] == "ann@example.com"
    assert claims["token_use"] == "id" and isinstance(claims["exp"], str)
    r = rest_call(stratus, api_id, "/prod/email", headers={"Authorization": tokens["IdToken"]})
    assert r.status_code == 200 and r.json() == {"email": "ann@example.com"}

    unauthorized = (401, {"message": "Unauthorized"})

    def status(path, headers):
        r = rest_call(stratus, api_id, path, headers=headers)
        return r.status_code, r.json()

    header, payload, signature = tokens["IdToken"].split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged_claims["cognito:username"] = "admin"
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode().rstrip("="),
                       signature])
    assert status("/prod/me", {}) == unauthorized
    assert status("/prod/me", {"Authorization": forged}) == unauthorized
    assert status("/prod/me", {"Authorization": other_tokens["IdToken"]}) == unauthorized  # another pool
    assert status("/prod/me", {"Authorization": tokens["AccessToken"]}) == unauthorized  # no scopes: ID token
    # With scopes, the access token that holds one passes and the ID token does not.
    assert rest_call(stratus, api_id, "/prod/admin", headers={"Authorization": tokens["AccessToken"]}) \
        .status_code == 200
    assert status("/prod/admin", {"Authorization": tokens["IdToken"]}) == unauthorized
    # Expired on the server's clock.
    stratus.advance_clock(3601)
    assert status("/prod/me", {"Authorization": tokens["IdToken"]}) == unauthorized


def test_http_api_jwt_authorizer_with_a_stratus_user_pool(stratus):
    from test_apigateway import call, http_api, lambda_route
    arn = function(stratus, "echo-jwt")
    pool, cid, tokens = cognito_user(stratus)
    gw = stratus.client("apigatewayv2")
    api_id = http_api(stratus)
    auth_id = gw.create_authorizer(ApiId=api_id, Name="cognito", AuthorizerType="JWT",
                                   IdentitySource=["$request.header.Authorization"],
                                   JwtConfiguration={"Issuer": f"{stratus.url}/{pool['Id']}",
                                                     "Audience": [cid]})["AuthorizerId"]
    lambda_route(stratus, api_id, "GET /me", arn, AuthorizationType="JWT", AuthorizerId=auth_id)
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    for token in (tokens["IdToken"], tokens["AccessToken"]):
        r = call(stratus, api_id, "/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert r.json()["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    r = call(stratus, api_id, "/me", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    # Templates name a pool's issuer in AWS's form: the pool of that id is Stratus's own.
    aws_form = gw.create_authorizer(ApiId=api_id, Name="aws-form", AuthorizerType="JWT",
                                    IdentitySource=["$request.header.Authorization"],
                                    JwtConfiguration={"Issuer": f"https://cognito-idp.us-east-1.amazonaws.com/"
                                                                f"{pool['Id']}", "Audience": [cid]})["AuthorizerId"]
    lambda_route(stratus, api_id, "GET /aws", arn, AuthorizationType="JWT", AuthorizerId=aws_form)
    r = call(stratus, api_id, "/aws", headers={"Authorization": f"Bearer {tokens['IdToken']}"})
    assert r.status_code == 200, r.text
    other_pool, other_cid, other_tokens = cognito_user(stratus, username="eve")
    r = call(stratus, api_id, "/aws", headers={"Authorization": f"Bearer {other_tokens['IdToken']}"})
    assert r.status_code == 401
