"""API Gateway HTTP APIs and Lambda function URLs, end to end: APIs created with the AWS CLI and
boto3, called over real HTTP at their invoke URLs (Host-based and the `/_aws/execute-api/` path
form), with functions running for real behind them."""

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from test_lambda import ROLE, STREAMING_BOOTSTRAP, zip_of

ACCOUNT = "000000000000"
REGION = "us-east-1"

ECHO_EVENT = """
import json
def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json", "x-fn": "echo"},
            "body": json.dumps(event)}
"""


def function(stratus, name, code=ECHO_EVENT, timeout=10, permit=True, runtime="python3.12"):
    lam = stratus.client("lambda")
    arn = lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler="app.handler",
                              Code={"ZipFile": zip_of({"app.py": code})}, Timeout=timeout)["FunctionArn"]
    if permit:
        allow_api_gateway(stratus, name)
    return arn


def allow_api_gateway(stratus, name, source_arn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*"):
    stratus.client("lambda").add_permission(
        FunctionName=name, StatementId=f"apigw-{uuid.uuid4().hex[:8]}", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=source_arn)


def call(stratus, api_id, path, method="GET", host=True, **kw):
    """A request to an API's invoke URL: `{api}.execute-api.localhost` or the path form."""
    if host:
        headers = dict(kw.pop("headers", {}) or {})
        headers["Host"] = f"{api_id}.execute-api.localhost:{stratus.port}"
        return requests.request(method, stratus.url + path, headers=headers, timeout=60, **kw)
    return requests.request(method, f"{stratus.url}/_aws/execute-api/{api_id}{path}", timeout=60, **kw)


def http_api(stratus, name="api", **kw):
    return stratus.client("apigatewayv2").create_api(Name=name, ProtocolType="HTTP", **kw)["ApiId"]


def lambda_route(stratus, api_id, route_key, arn, version="2.0", **route):
    gw = stratus.client("apigatewayv2")
    integration = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                        PayloadFormatVersion=version)["IntegrationId"]
    return gw.create_route(ApiId=api_id, RouteKey=route_key, Target=f"integrations/{integration}", **route)


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_quick_create_with_the_cli_and_the_v2_event(stratus):
    arn = function(stratus, "echo", permit=False)
    api = json.loads(stratus.cli("apigatewayv2", "create-api", "--name", "quick", "--protocol-type", "HTTP",
                                 "--target", arn).stdout)
    api_id = api["ApiId"]
    assert api["ApiEndpoint"] == f"http://{api_id}.execute-api.localhost:{stratus.port}"
    assert api["ProtocolType"] == "HTTP"
    routes = json.loads(stratus.cli("apigatewayv2", "get-routes", "--api-id", api_id).stdout)["Items"]
    assert [r["RouteKey"] for r in routes] == ["$default"]
    stages = json.loads(stratus.cli("apigatewayv2", "get-stages", "--api-id", api_id).stdout)["Items"]
    assert stages[0]["StageName"] == "$default" and stages[0]["AutoDeploy"] is True
    integration = json.loads(stratus.cli("apigatewayv2", "get-integrations", "--api-id", api_id).stdout)["Items"][0]
    assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"

    # As on AWS, API Gateway may call the function only once its resource policy says so.
    r = call(stratus, api_id, "/anything")
    assert r.status_code == 500 and r.json() == {"message": "Internal Server Error"}
    allow_api_gateway(stratus, "echo", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*")

    r = call(stratus, api_id, "/my/path?b=2&a=1&a=3", headers={"Cookie": "c1=v1; c2=v2", "X-Custom": "yes",
                                                                "User-Agent": "tests/1.0"})
    assert r.status_code == 200, r.text
    assert r.headers["x-fn"] == "echo" and r.headers["apigw-requestid"]
    e = r.json()
    assert e["version"] == "2.0" and e["routeKey"] == "$default"
    assert e["rawPath"] == "/my/path" and e["rawQueryString"] == "b=2&a=1&a=3"
    assert e["queryStringParameters"] == {"a": "1,3", "b": "2"}
    assert e["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in e["headers"]
    assert e["headers"]["x-custom"] == "yes"
    assert e["isBase64Encoded"] is False and "body" not in e and "pathParameters" not in e
    ctx = e["requestContext"]
    assert ctx["apiId"] == api_id and ctx["accountId"] == ACCOUNT and ctx["stage"] == "$default"
    assert ctx["http"] == {"method": "GET", "path": "/my/path", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                           "userAgent": "tests/1.0"}
    assert ctx["requestId"] == r.headers["apigw-requestid"] and isinstance(ctx["timeEpoch"], int)

    # The path form reaches the same API; binary bodies arrive base64-encoded.
    r = call(stratus, api_id, "/upload", method="POST", host=False, data=b"\x00\xffbin",
             headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    e = r.json()
    assert e["isBase64Encoded"] is True and base64.b64decode(e["body"]) == b"\x00\xffbin"
    r = call(stratus, api_id, "/t", method="POST", data='{"k": "v"}', headers={"Content-Type": "application/json"})
    assert r.json()["body"] == '{"k": "v"}' and r.json()["isBase64Encoded"] is False

    # An API that does not exist, and one that was deleted.
    assert call(stratus, "nope123456", "/x").json() == {"message": "Not Found"}
    stratus.cli("apigatewayv2", "delete-api", "--api-id", api_id)
    assert call(stratus, api_id, "/x").status_code == 404


def test_payload_format_1_0_and_response_rules(stratus):
    arn = function(stratus, "echo")
    shortcut = function(stratus, "plain", code="def handler(e, c):\n    return {'just': 'json', 'n': [1, 2]}\n")
    broken = function(stratus, "broken", code="def handler(e, c):\n    return {'statusCode': 'abc'}\n")
    raising = function(stratus, "raising", code="def handler(e, c):\n    raise ValueError('boom')\n")
    multi = function(stratus, "multi", code=(
        "def handler(e, c):\n"
        "    return {'statusCode': 201, 'multiValueHeaders': {'x-m': ['1', '2']}, 'headers': {'x-s': 's'},\n"
        "            'body': 'created', 'isBase64Encoded': False}\n"))
    slow = function(stratus, "slow", code="import time\ndef handler(e, c):\n    time.sleep(3)\n    return {}\n")
    api_id = http_api(stratus)
    gw = stratus.client("apigatewayv2")
    lambda_route(stratus, api_id, "GET /v1/{id}", arn, version="1.0")
    lambda_route(stratus, api_id, "GET /plain", shortcut)
    lambda_route(stratus, api_id, "GET /plain1", shortcut, version="1.0")
    lambda_route(stratus, api_id, "GET /broken", broken)
    lambda_route(stratus, api_id, "GET /raising", raising)
    lambda_route(stratus, api_id, "GET /multi", multi, version="1.0")
    n = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=slow,
                              PayloadFormatVersion="2.0", TimeoutInMillis=1000)
    gw.create_route(ApiId=api_id, RouteKey="GET /slow", Target=f"integrations/{n['IntegrationId']}")
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    r = call(stratus, api_id, "/v1/42?x=1&x=2", headers={"X-One": "1"})
    assert r.status_code == 200, r.text
    e = r.json()
    assert e["version"] == "1.0" and e["resource"] == "/v1/{id}" and e["path"] == "/v1/42"
    assert e["httpMethod"] == "GET" and e["pathParameters"] == {"id": "42"}
    assert e["queryStringParameters"] == {"x": "2"} and e["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert e["multiValueHeaders"]["x-one"] == ["1"] and e["body"] is None and e["stageVariables"] is None
    assert e["requestContext"]["resourcePath"] == "/v1/{id}" and e["requestContext"]["identity"]["sourceIp"]

    # 2.0: JSON without statusCode is the body of a 200; 1.0 requires the proxy shape.
    r = call(stratus, api_id, "/plain")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"just": "json", "n": [1, 2]}
    assert call(stratus, api_id, "/plain1").json() == {"message": "Internal Server Error"}
    for path in ("/broken", "/raising"):
        r = call(stratus, api_id, path)
        assert r.status_code == 500 and r.json() == {"message": "Internal Server Error"}, path
    r = call(stratus, api_id, "/multi")
    assert r.status_code == 201 and r.text == "created"
    assert r.headers["x-m"] == "1, 2" and r.headers["x-s"] == "s"
    r = call(stratus, api_id, "/slow")
    assert r.status_code == 504 and r.json() == {"message": "Endpoint request timed out"}


ROUTE_ECHO = """
import json
def handler(event, context):
    return {"route": event["routeKey"], "params": event.get("pathParameters")}
"""


def test_route_priority(stratus):
    arn = function(stratus, "router", code=ROUTE_ECHO)
    api_id = http_api(stratus)
    for key in ["GET /items/{id}", "GET /items/special", "ANY /items/{id}", "ANY /{proxy+}", "POST /items",
                "GET /"]:
        lambda_route(stratus, api_id, key, arn)
    stratus.client("apigatewayv2").create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    def route(method, path):
        r = call(stratus, api_id, path, method=method)
        assert r.status_code == 200, (method, path, r.text)
        return r.json()["route"], r.json()["params"]

    assert route("GET", "/items/special") == ("GET /items/special", None)
    assert route("GET", "/items/7") == ("GET /items/{id}", {"id": "7"})
    assert route("DELETE", "/items/7") == ("ANY /items/{id}", {"id": "7"})
    assert route("POST", "/items") == ("POST /items", None)
    assert route("GET", "/") == ("GET /", None)
    assert route("PUT", "/a/b%20c/d") == ("ANY /{proxy+}", {"proxy": "a/b c/d"})
    # Without a $default route, what matches nothing is API Gateway's 404.
    assert call(stratus, api_id, "/", method="PUT").json() == {"message": "Not Found"}
    lambda_route(stratus, api_id, "$default", arn)
    assert route("PUT", "/") == ("$default", None)


def test_stages_deployments_and_stage_variables(stratus):
    one = function(stratus, "one", code="def handler(e, c):\n    return {'fn': 'one', 'vars': e.get('stageVariables')}\n")
    function(stratus, "two", code="def handler(e, c):\n    return {'fn': 'two', 'vars': e.get('stageVariables')}\n")
    gw = stratus.client("apigatewayv2")
    api_id = http_api(stratus)
    uri = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:${{stageVariables.fn}}"
    n = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=uri,
                              PayloadFormatVersion="2.0")["IntegrationId"]
    route_id = gw.create_route(ApiId=api_id, RouteKey="GET /which", Target=f"integrations/{n}")["RouteId"]
    gw.create_stage(ApiId=api_id, StageName="prod", StageVariables={"fn": "one"})
    gw.create_stage(ApiId=api_id, StageName="beta", StageVariables={"fn": "two"})
    # A stage without a deployment serves nothing.
    assert call(stratus, api_id, "/prod/which").status_code == 404
    with pytest.raises(ClientError) as e:
        gw.create_deployment(ApiId=api_id, StageName="nope")
    assert code_of(e) == "NotFoundException"
    d1 = gw.create_deployment(ApiId=api_id, StageName="prod", Description="first")
    assert d1["DeploymentStatus"] == "DEPLOYED" and d1["AutoDeployed"] is False
    gw.update_stage(ApiId=api_id, StageName="beta", DeploymentId=d1["DeploymentId"])
    assert call(stratus, api_id, "/prod/which").json() == {"fn": "one", "vars": {"fn": "one"}}
    assert call(stratus, api_id, "/beta/which", host=False).json() == {"fn": "two", "vars": {"fn": "two"}}
    assert gw.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"] == d1["DeploymentId"]

    # Changes reach a stage only with a new deployment.
    gw.update_route(ApiId=api_id, RouteId=route_id, RouteKey="GET /renamed")
    assert call(stratus, api_id, "/prod/which").status_code == 200
    assert call(stratus, api_id, "/prod/renamed").status_code == 404
    gw.create_deployment(ApiId=api_id, StageName="prod")
    assert call(stratus, api_id, "/prod/renamed").json()["fn"] == "one"
    assert call(stratus, api_id, "/prod/which").status_code == 404
    assert len(gw.get_deployments(ApiId=api_id)["Items"]) == 2
    with pytest.raises(ClientError) as e:
        gw.delete_deployment(ApiId=api_id, DeploymentId=d1["DeploymentId"])
    assert code_of(e) == "BadRequestException"  # the beta stage still serves it
    assert one.endswith(":function:one")


CRUD = """
import json, boto3
table = boto3.resource("dynamodb").Table("items")
def handler(event, context):
    method, item_id = event["requestContext"]["http"]["method"], (event.get("pathParameters") or {}).get("id")
    if event["routeKey"] == "GET /items":
        items = table.scan()["Items"]
        return {"statusCode": 200, "body": json.dumps(sorted(i["id"] for i in items))}
    if method == "PUT":
        body = json.loads(event["body"])
        table.put_item(Item={"id": item_id, "name": body["name"]})
        return {"statusCode": 201, "body": json.dumps({"id": item_id})}
    if method == "GET":
        item = table.get_item(Key={"id": item_id}).get("Item")
        if item is None:
            return {"statusCode": 404, "body": json.dumps({"error": "not found"})}
        return {"statusCode": 200, "body": json.dumps(item)}
    if method == "DELETE":
        table.delete_item(Key={"id": item_id})
        return {"statusCode": 204}
"""


def test_crud_api_backed_by_a_function_and_a_table(stratus):
    ddb = stratus.client("dynamodb")
    ddb.create_table(TableName="items", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    # python3.11 is the interpreter the tests installed boto3 for.
    arn = function(stratus, "crud", code=CRUD, timeout=30, runtime="python3.11")
    api_id = http_api(stratus, "crud")
    gw = stratus.client("apigatewayv2")
    n = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                              PayloadFormatVersion="2.0")["IntegrationId"]
    for key in ["GET /items", "GET /items/{id}", "PUT /items/{id}", "DELETE /items/{id}"]:
        gw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{n}")
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    r = call(stratus, api_id, "/items/a1", method="PUT", json={"name": "first"})
    assert r.status_code == 201, r.text
    call(stratus, api_id, "/items/b2", method="PUT", json={"name": "second"})
    assert call(stratus, api_id, "/items/a1").json() == {"id": "a1", "name": "first"}
    assert call(stratus, api_id, "/items").json() == ["a1", "b2"]
    assert ddb.get_item(TableName="items", Key={"id": {"S": "b2"}})["Item"]["name"] == {"S": "second"}
    assert call(stratus, api_id, "/items/a1", method="DELETE").status_code == 204
    r = call(stratus, api_id, "/items/a1")
    assert r.status_code == 404 and r.json() == {"error": "not found"}
    assert call(stratus, api_id, "/items", method="POST").json() == {"message": "Not Found"}


def test_cors_preflight_and_response_headers(stratus):
    arn = function(stratus, "echo")
    api_id = http_api(stratus, CorsConfiguration={
        "AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type", "x-token"], "ExposeHeaders": ["x-fn"], "MaxAge": 300,
        "AllowCredentials": True})
    lambda_route(stratus, api_id, "GET /data", arn)
    stratus.client("apigatewayv2").create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    # The gateway answers the preflight itself: there is no OPTIONS route.
    r = call(stratus, api_id, "/data", method="OPTIONS", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-token"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert set(r.headers["access-control-allow-methods"].split(",")) == {"GET", "POST"}
    assert "x-token" in r.headers["access-control-allow-headers"]
    assert r.headers["access-control-max-age"] == "300"
    assert r.headers["access-control-allow-credentials"] == "true"
    r = call(stratus, api_id, "/data", method="OPTIONS", headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers

    r = call(stratus, api_id, "/data", headers={"Origin": "https://app.example.com"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert r.headers["access-control-expose-headers"] == "x-fn"
    assert "access-control-allow-origin" not in call(stratus, api_id, "/data").headers

    with pytest.raises(ClientError) as e:
        http_api(stratus, CorsConfiguration={"AllowOrigins": ["*"], "AllowCredentials": True})
    assert code_of(e) == "BadRequestException"


def test_throttling_per_stage_and_route(stratus):
    arn = function(stratus, "echo")
    api_id = http_api(stratus)
    lambda_route(stratus, api_id, "GET /limited", arn)
    lambda_route(stratus, api_id, "GET /free", arn)
    gw = stratus.client("apigatewayv2")
    # Burst 2 and a refill of one request per 1000 s: the third call in a row is over the limit.
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True,
                    RouteSettings={"GET /limited": {"ThrottlingBurstLimit": 2, "ThrottlingRateLimit": 0.001}})
    assert [call(stratus, api_id, "/limited").status_code for _ in range(2)] == [200, 200]
    r = call(stratus, api_id, "/limited")
    assert r.status_code == 429 and r.json() == {"message": "Too Many Requests"}
    assert all(call(stratus, api_id, "/free").status_code == 200 for _ in range(4))
    # A stage-wide default applies to every route; burst 0 blocks all.
    gw.update_stage(ApiId=api_id, StageName="$default", DefaultRouteSettings={"ThrottlingBurstLimit": 0,
                                                                               "ThrottlingRateLimit": 0})
    assert call(stratus, api_id, "/free").status_code == 429


class Issuer:
    """A minimal OpenID issuer: discovery document and JWKS over HTTP (or HTTPS with `tls`, a
    (cert, key) pair), RS256 keys; `/backend` answers anything else, for proxy integrations."""

    def __init__(self, tls=None):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
                elif self.path == "/jwks.json":
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key()))
                    jwk.update({"kid": issuer.kid, "alg": "RS256", "use": "sig"})
                    body = {"keys": [jwk]}
                elif self.path.startswith("/backend"):
                    body = {"backend": self.path, "tls": tls is not None}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, key=None, **claims):
        body = {"iss": self.url, "aud": "my-app", "sub": "user-1", "exp": int(time.time()) + 600,
                "scope": "items/read"}
        body.update(claims)
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": self.kid})


def test_jwt_authorizer(stratus):
    arn = function(stratus, "echo")
    issuer = Issuer()
    try:
        api_id = http_api(stratus)
        gw = stratus.client("apigatewayv2")
        auth_id = gw.create_authorizer(ApiId=api_id, Name="jwt", AuthorizerType="JWT",
                                       IdentitySource=["$request.header.Authorization"],
                                       JwtConfiguration={"Issuer": issuer.url, "Audience": ["my-app"]})["AuthorizerId"]
        lambda_route(stratus, api_id, "GET /me", arn, AuthorizationType="JWT", AuthorizerId=auth_id)
        lambda_route(stratus, api_id, "GET /admin", arn, AuthorizationType="JWT", AuthorizerId=auth_id,
                     AuthorizationScopes=["items/admin"])
        gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

        r = call(stratus, api_id, "/me", headers={"Authorization": f"Bearer {issuer.token()}"})
        assert r.status_code == 200, r.text
        claims = r.json()["requestContext"]["authorizer"]["jwt"]["claims"]
        assert claims["sub"] == "user-1" and claims["aud"] == "my-app" and isinstance(claims["exp"], str)

        def status(headers):
            r = call(stratus, api_id, "/me", headers=headers)
            return r.status_code, r.json()

        unauthorized = (401, {"message": "Unauthorized"})
        assert status({}) == unauthorized
        forged = issuer.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
        assert status({"Authorization": f"Bearer {forged}"}) == unauthorized
        assert status({"Authorization": f"Bearer {issuer.token(exp=int(time.time()) - 10)}"}) == unauthorized
        assert status({"Authorization": f"Bearer {issuer.token(aud='other-app')}"}) == unauthorized
        assert status({"Authorization": f"Bearer {issuer.token(iss='http://elsewhere')}"}) == unauthorized
        unsigned = jwt.encode({"iss": issuer.url, "aud": "my-app", "exp": int(time.time()) + 600}, None,
                              algorithm="none")
        assert status({"Authorization": f"Bearer {unsigned}"}) == unauthorized
        hs = jwt.encode({"iss": issuer.url, "aud": "my-app", "exp": int(time.time()) + 600}, "s" * 32,
                        algorithm="HS256", headers={"kid": issuer.kid})
        assert status({"Authorization": f"Bearer {hs}"}) == unauthorized
        # An access token's client_id stands for the audience.
        token = issuer.token(aud=None, client_id="my-app")
        assert status({"Authorization": f"Bearer {token}"})[0] == 200

        # Scopes: the route wants one the token lacks.
        r = call(stratus, api_id, "/admin", headers={"Authorization": f"Bearer {issuer.token()}"})
        assert r.status_code == 403 and r.json() == {"message": "Forbidden"}
        r = call(stratus, api_id, "/admin",
                 headers={"Authorization": f"Bearer {issuer.token(scope='items/read items/admin')}"})
        assert r.status_code == 200
        assert r.json()["requestContext"]["authorizer"]["jwt"]["scopes"] == ["items/read", "items/admin"]
    finally:
        issuer.httpd.shutdown()


AUTHORIZER_SIMPLE = """
calls = 0
def handler(event, context):
    global calls
    calls += 1
    ok = event["headers"].get("authorization") == "letmein"
    return {"isAuthorized": ok, "context": {"user": "alice", "calls": calls, "route": event["routeArn"]}}
"""

AUTHORIZER_POLICY = """
def handler(event, context):
    effect = "Allow" if event["identitySource"] == "good" else "Deny"
    arn = event["methodArn"]
    return {"principalId": "bob", "context": {"tier": "gold"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": arn}]}}
"""


def test_lambda_authorizers_simple_and_policy(stratus):
    arn = function(stratus, "echo")
    simple = function(stratus, "auth-simple", code=AUTHORIZER_SIMPLE)
    policy = function(stratus, "auth-policy", code=AUTHORIZER_POLICY)
    failing = function(stratus, "auth-fail", code="def handler(e, c):\n    return {'nope': True}\n")
    gw = stratus.client("apigatewayv2")
    api_id = http_api(stratus)
    uri = lambda f: f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{f}/invocations"
    a_simple = gw.create_authorizer(ApiId=api_id, Name="simple", AuthorizerType="REQUEST",
                                    AuthorizerUri=uri(simple), AuthorizerPayloadFormatVersion="2.0",
                                    EnableSimpleResponses=True, AuthorizerResultTtlInSeconds=300,
                                    IdentitySource=["$request.header.Authorization"])["AuthorizerId"]
    a_policy = gw.create_authorizer(ApiId=api_id, Name="policy", AuthorizerType="REQUEST",
                                    AuthorizerUri=uri(policy), AuthorizerPayloadFormatVersion="1.0",
                                    AuthorizerResultTtlInSeconds=0,
                                    IdentitySource=["$request.querystring.key"])["AuthorizerId"]
    a_fail = gw.create_authorizer(ApiId=api_id, Name="fail", AuthorizerType="REQUEST", AuthorizerUri=uri(failing),
                                  AuthorizerPayloadFormatVersion="2.0", EnableSimpleResponses=True,
                                  IdentitySource=["$request.header.x"])["AuthorizerId"]
    lambda_route(stratus, api_id, "GET /simple", arn, AuthorizationType="CUSTOM", AuthorizerId=a_simple)
    lambda_route(stratus, api_id, "GET /policy", arn, version="1.0", AuthorizationType="CUSTOM",
                 AuthorizerId=a_policy)
    lambda_route(stratus, api_id, "GET /fail", arn, AuthorizationType="CUSTOM", AuthorizerId=a_fail)
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    r = call(stratus, api_id, "/simple", headers={"Authorization": "letmein"})
    assert r.status_code == 200, r.text
    context = r.json()["requestContext"]["authorizer"]["lambda"]
    assert context["user"] == "alice" and context["calls"] == 1
    assert context["route"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/$default/GET/simple"
    # Cached by identity source: the authorizer is not called again for the same header.
    r = call(stratus, api_id, "/simple", headers={"Authorization": "letmein"})
    assert r.json()["requestContext"]["authorizer"]["lambda"]["calls"] == 1
    r = call(stratus, api_id, "/simple", headers={"Authorization": "wrong"})
    assert r.status_code == 403 and r.json() == {"message": "Forbidden"}
    r = call(stratus, api_id, "/simple")
    assert r.status_code == 401 and r.json() == {"message": "Unauthorized"}

    r = call(stratus, api_id, "/policy?key=good")
    assert r.status_code == 200, r.text
    authorizer = r.json()["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "bob" and authorizer["tier"] == "gold"
    assert call(stratus, api_id, "/policy?key=bad").status_code == 403
    assert call(stratus, api_id, "/policy").status_code == 401
    # A malformed answer from the authorizer is the gateway's 500.
    r = call(stratus, api_id, "/fail", headers={"x": "1"})
    assert r.status_code == 500 and r.json() == {"message": "Internal Server Error"}


def test_access_logs_reach_cloudwatch(stratus):
    arn = function(stratus, "echo")
    api_id = http_api(stratus)
    lambda_route(stratus, api_id, "GET /logged", arn)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:api-access"
    stratus.client("apigatewayv2").create_stage(
        ApiId=api_id, StageName="$default", AutoDeploy=True,
        AccessLogSettings={"DestinationArn": group_arn,
                           "Format": "$context.requestId $context.httpMethod $context.routeKey $context.status"})
    r = call(stratus, api_id, "/logged")
    assert r.status_code == 200
    call(stratus, api_id, "/missing")
    assert f"{r.headers['apigw-requestid']} GET GET /logged 200" in log_lines(stratus, "api-access", 2)


def log_lines(stratus, group, at_least):
    """The messages of a log group once it has `at_least` of them (access logs are written
    off the request path)."""
    logs = stratus.client("logs")
    deadline = time.monotonic() + 10
    messages = []
    while time.monotonic() < deadline and len(messages) < at_least:
        try:
            messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        except ClientError:
            pass
        time.sleep(0.1)
    return messages


def test_control_plane_errors(stratus):
    gw = stratus.client("apigatewayv2")
    with pytest.raises(ClientError) as e:
        gw.get_api(ApiId="missing123")
    assert code_of(e) == "NotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    api_id = http_api(stratus, Description="d", Tags={"team": "a"})
    assert gw.get_api(ApiId=api_id)["Tags"] == {"team": "a"}
    assert any(a["ApiId"] == api_id for a in gw.get_apis()["Items"])
    gw.update_api(ApiId=api_id, Name="renamed")
    assert gw.get_api(ApiId=api_id)["Name"] == "renamed"
    for bad in ["FETCH /x", "GET x", "GET /{p+}/x", "GET /a//b"]:
        with pytest.raises(ClientError) as e:
            gw.create_route(ApiId=api_id, RouteKey=bad)
        assert code_of(e) == "BadRequestException", bad
    gw.create_route(ApiId=api_id, RouteKey="GET /x")
    with pytest.raises(ClientError) as e:
        gw.create_route(ApiId=api_id, RouteKey="GET /x")
    assert code_of(e) == "ConflictException"
    with pytest.raises(ClientError) as e:
        gw.create_route(ApiId=api_id, RouteKey="GET /y", Target="integrations/nope")
    assert code_of(e) == "BadRequestException"
    with pytest.raises(ClientError) as e:
        gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                              IntegrationUri=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f")
    assert code_of(e) == "BadRequestException"  # payload format version missing
    with pytest.raises(ClientError) as e:
        gw.create_integration(ApiId=api_id, IntegrationType="MOCK")
    assert code_of(e) == "BadRequestException"  # HTTP APIs have no MOCK integrations
    with pytest.raises(ClientError) as e:
        gw.create_stage(ApiId=api_id, StageName="bad name")
    assert code_of(e) == "BadRequestException"
    gw.create_stage(ApiId=api_id, StageName="dev")
    with pytest.raises(ClientError) as e:
        gw.create_stage(ApiId=api_id, StageName="dev")
    assert code_of(e) == "ConflictException"
    stage_arn = f"arn:aws:apigateway:{REGION}::/apis/{api_id}/stages/dev"
    gw.tag_resource(ResourceArn=stage_arn, Tags={"env": "dev"})
    assert gw.get_tags(ResourceArn=stage_arn)["Tags"] == {"env": "dev"}
    gw.untag_resource(ResourceArn=stage_arn, TagKeys=["env"])
    assert gw.get_tags(ResourceArn=stage_arn)["Tags"] == {}
    gw.delete_api(ApiId=api_id)
    with pytest.raises(ClientError) as e:
        gw.get_routes(ApiId=api_id)
    assert code_of(e) == "NotFoundException"


def test_http_proxy_integration(stratus):
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen["path"] = self.path
            seen["body"] = self.rfile.read(int(self.headers["content-length"]))
            seen["header"] = self.headers.get("x-pass")
            data = b'{"proxied": true}'
            self.send_response(202)
            self.send_header("content-type", "application/json")
            self.send_header("x-upstream", "yes")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        gw = stratus.client("apigatewayv2")
        api_id = http_api(stratus)
        n = gw.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                  IntegrationUri=f"http://127.0.0.1:{httpd.server_address[1]}/up/{{proxy}}",
                                  PayloadFormatVersion="1.0")["IntegrationId"]
        gw.create_route(ApiId=api_id, RouteKey="ANY /svc/{proxy+}", Target=f"integrations/{n}")
        gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
        r = call(stratus, api_id, "/svc/a/b?q=1", method="POST", data=b"payload", headers={"X-Pass": "through"})
        assert r.status_code == 202 and r.json() == {"proxied": True} and r.headers["x-upstream"] == "yes"
        assert seen == {"path": "/up/a/b?q=1", "body": b"payload", "header": "through"}
    finally:
        httpd.shutdown()


def test_function_urls(stratus):
    lam = stratus.client("lambda")
    function(stratus, "public", permit=False)
    url = lam.create_function_url_config(FunctionName="public", AuthType="NONE",
                                         Cors={"AllowOrigins": ["https://site.example"],
                                               "AllowMethods": ["GET"]})["FunctionUrl"]
    url_id = url.split("//")[1].split(".")[0]
    assert url == f"http://{url_id}.lambda-url.{REGION}.localhost:{stratus.port}/"
    host = {"Host": f"{url_id}.lambda-url.{REGION}.localhost:{stratus.port}"}

    # A NONE URL still needs the resource policy that makes it public, as on AWS.
    r = requests.get(stratus.url + "/hello", headers=host, timeout=30)
    assert r.status_code == 403
    lam.add_permission(FunctionName="public", StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    r = requests.get(stratus.url + "/hello?x=1", headers={**host, "Origin": "https://site.example"}, timeout=30)
    assert r.status_code == 200, r.text
    e = r.json()
    assert e["rawPath"] == "/hello" and e["rawQueryString"] == "x=1" and e["routeKey"] == "$default"
    assert e["requestContext"]["apiId"] == url_id and e["requestContext"]["accountId"] == "anonymous"
    assert r.headers["access-control-allow-origin"] == "https://site.example"
    r = requests.options(stratus.url + "/hello", headers={**host, "Origin": "https://site.example",
                                                          "Access-Control-Request-Method": "GET"}, timeout=30)
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "https://site.example"

    # AWS_IAM: only SigV4-signed calls.
    function(stratus, "private", permit=False)
    url = lam.create_function_url_config(FunctionName="private", AuthType="AWS_IAM")["FunctionUrl"]
    url_id = url.split("//")[1].split(".")[0]
    host = {"Host": f"{url_id}.lambda-url.{REGION}.localhost:{stratus.port}"}
    assert requests.get(stratus.url + "/", headers=host, timeout=30).status_code == 403
    r = stratus.signed("lambda", method="GET", path="/", headers=host)
    assert r.status_code == 200, r.text
    iam = r.json()["requestContext"]["authorizer"]["iam"]
    assert iam["accountId"] == ACCOUNT and iam["accessKey"] == "test"
    r = stratus.signed("lambda", method="GET", path="/", headers=host, secret="wrong")
    assert r.status_code == 403
    # A deleted URL answers nothing.
    lam.delete_function_url_config(FunctionName="private")
    assert stratus.signed("lambda", method="GET", path="/", headers=host).status_code == 403


CHAT = """
import json, os, boto3
table = boto3.resource("dynamodb").Table("connections")

def stage_client(ctx):
    base = os.environ["AWS_ENDPOINT_URL"] + "/_aws/execute-api/" + ctx["apiId"] + "/" + ctx["stage"]
    return boto3.client("apigatewaymanagementapi", endpoint_url=base)

def handler(event, context):
    ctx = event["requestContext"]
    route, cid = ctx["routeKey"], ctx["connectionId"]
    if route == "$connect":
        if (event.get("queryStringParameters") or {}).get("token") != "ok":
            return {"statusCode": 403}
        table.put_item(Item={"id": cid})
        return {"statusCode": 200}
    if route == "$disconnect":
        table.delete_item(Key={"id": cid})
        return {"statusCode": 200}
    body = json.loads(event["body"])
    if route == "echo":
        return {"statusCode": 200, "body": json.dumps({"echo": body["data"], "me": cid})}
    if route == "broadcast":
        # The SDK's default endpoint (AWS_ENDPOINT_URL) reaches /@connections at the root.
        root = boto3.client("apigatewaymanagementapi")
        for item in table.scan()["Items"]:
            root.post_to_connection(ConnectionId=item["id"], Data=body["data"].encode())
        return {"statusCode": 200}
    stage_client(ctx).post_to_connection(ConnectionId=cid, Data=json.dumps({"default": body}).encode())
    return {"statusCode": 200}
"""


def test_websocket_chat_with_connections_api(stratus):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    stratus.client("dynamodb").create_table(
        TableName="connections", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    arn = function(stratus, "chat", code=CHAT, timeout=30, runtime="python3.11")
    gw = stratus.client("apigatewayv2")
    api = gw.create_api(Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
    api_id = api["ApiId"]
    assert api["ApiEndpoint"].startswith("ws://")
    n = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn)["IntegrationId"]
    for key in ["$connect", "$disconnect", "$default", "broadcast"]:
        gw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{n}")
    gw.create_route(ApiId=api_id, RouteKey="echo", Target=f"integrations/{n}", RouteResponseSelectionExpression="$default")
    gw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    url = f"ws://127.0.0.1:{stratus.port}/_aws/execute-api/{api_id}/prod"

    # $connect refuses a connection without the right token.
    with pytest.raises(InvalidStatus) as refused:
        connect(url + "?token=bad", open_timeout=30)
    assert refused.value.response.status_code == 403

    with connect(url + "?token=ok", open_timeout=30) as a, connect(url + "?token=ok", open_timeout=30) as b:
        a.send(json.dumps({"action": "echo", "data": "hi"}))
        echo = json.loads(a.recv(timeout=30))
        assert echo["echo"] == "hi"
        me = echo["me"]
        a.send(json.dumps({"action": "broadcast", "data": "hello all"}))
        assert a.recv(timeout=30) == "hello all" and b.recv(timeout=30) == "hello all"
        b.send(json.dumps({"action": "unknown", "x": 1}))
        assert json.loads(b.recv(timeout=30)) == {"default": {"action": "unknown", "x": 1}}

        mgmt = boto3_management(stratus, api_id)
        info = mgmt.get_connection(ConnectionId=me)
        assert info["Identity"]["SourceIp"] == "127.0.0.1" and info["ConnectedAt"]
        mgmt.post_to_connection(ConnectionId=me, Data=b"pushed")
        assert a.recv(timeout=30) == "pushed"
        mgmt.delete_connection(ConnectionId=me)
        with pytest.raises(Exception):
            a.recv(timeout=30)
        with pytest.raises(ClientError) as gone:
            mgmt.post_to_connection(ConnectionId=me, Data=b"late")
        assert code_of(gone) == "GoneException"
    # $disconnect ran for both: the table is empty again.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not stratus.client("dynamodb").scan(TableName="connections")["Items"]:
            break
        time.sleep(0.1)
    assert stratus.client("dynamodb").scan(TableName="connections")["Items"] == []


def boto3_management(stratus, api_id):
    import boto3
    return boto3.client("apigatewaymanagementapi", endpoint_url=f"{stratus.url}/_aws/execute-api/{api_id}/prod",
                        region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")


def tls_files(tmp_path):
    """A CA and a server certificate for 127.0.0.1 signed by it, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(name("test ca")).issuer_name(name("test ca"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path / "ca.pem", (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))


def test_https_issuers_and_integrations(stratus, new_server, tmp_path):
    """A JWT issuer and a proxy backend over HTTPS: trusted through SSL_CERT_FILE, refused when
    the server does not trust the certificate."""
    ca, pair = tls_files(tmp_path)
    issuer = Issuer(tls=pair)
    try:
        trusting = new_server(env={"SSL_CERT_FILE": str(ca)})
        for server, trusted in ((trusting, True), (stratus, False)):
            arn = function(server, "echo")
            gw = server.client("apigatewayv2")
            api_id = http_api(server)
            auth_id = gw.create_authorizer(ApiId=api_id, Name="jwt", AuthorizerType="JWT",
                                           IdentitySource=["$request.header.Authorization"],
                                           JwtConfiguration={"Issuer": issuer.url, "Audience": ["my-app"]})["AuthorizerId"]
            lambda_route(server, api_id, "GET /me", arn, AuthorizationType="JWT", AuthorizerId=auth_id)
            n = gw.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="GET",
                                      IntegrationUri=issuer.url + "/backend/{proxy}")["IntegrationId"]
            gw.create_route(ApiId=api_id, RouteKey="GET /up/{proxy+}", Target=f"integrations/{n}")
            gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
            r = call(server, api_id, "/me", headers={"Authorization": f"Bearer {issuer.token()}"})
            r2 = call(server, api_id, "/up/x")
            if trusted:
                assert r.status_code == 200, r.text
                assert r.json()["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "user-1"
                assert r2.status_code == 200 and r2.json() == {"backend": "/backend/x", "tls": True}
            else:
                assert r.status_code == 401 and r2.status_code == 500
    finally:
        issuer.httpd.shutdown()


WS_AUTHORIZER = """
def handler(event, context):
    token = event["queryStringParameters"].get("token")
    effect = "Allow" if token == "good" else "Deny"
    return {"principalId": "p-" + token, "context": {"role": "member"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
"""

WS_WHOAMI = """
import json
def handler(event, context):
    ctx = event["requestContext"]
    if ctx["eventType"] != "MESSAGE":
        return {"statusCode": 200}
    return {"statusCode": 200, "body": json.dumps(ctx.get("authorizer"))}
"""


def test_websocket_connect_authorizer(stratus):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    arn = function(stratus, "whoami", code=WS_WHOAMI)
    auth_fn = function(stratus, "ws-auth", code=WS_AUTHORIZER)
    gw = stratus.client("apigatewayv2")
    api_id = gw.create_api(Name="ws", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")["ApiId"]
    n = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn)["IntegrationId"]
    z = gw.create_authorizer(ApiId=api_id, Name="q", AuthorizerType="REQUEST",
                             AuthorizerUri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{auth_fn}/invocations",
                             IdentitySource=["route.request.querystring.token"])["AuthorizerId"]
    gw.create_route(ApiId=api_id, RouteKey="$connect", Target=f"integrations/{n}", AuthorizationType="CUSTOM",
                    AuthorizerId=z)
    gw.create_route(ApiId=api_id, RouteKey="$default", Target=f"integrations/{n}",
                    RouteResponseSelectionExpression="$default")
    gw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    url = f"ws://127.0.0.1:{stratus.port}/_aws/execute-api/{api_id}/prod"
    for query, status in (("", 401), ("?token=bad", 403)):
        with pytest.raises(InvalidStatus) as refused:
            connect(url + query, open_timeout=30)
        assert refused.value.response.status_code == status, query
    with connect(url + "?token=good", open_timeout=30) as ws:
        ws.send("{}")
        assert json.loads(ws.recv(timeout=30)) == {"role": "member", "principalId": "p-good"}


def test_iam_routes_take_signed_calls_only(stratus):
    arn = function(stratus, "echo")
    api_id = http_api(stratus)
    lambda_route(stratus, api_id, "GET /private", arn, AuthorizationType="AWS_IAM")
    stratus.client("apigatewayv2").create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    assert call(stratus, api_id, "/private").status_code == 403
    path = f"/_aws/execute-api/{api_id}/$default/private"
    r = stratus.signed("execute-api", method="GET", path=path)
    assert r.status_code == 200, r.text
    assert r.json()["requestContext"]["authorizer"]["iam"]["accountId"] == ACCOUNT
    assert stratus.signed("execute-api", method="GET", path=path, secret="wrong").status_code == 403


def test_function_url_response_streaming(stratus):
    """A function URL in RESPONSE_STREAM mode relays a streaming function's chunks as they come,
    with the status and headers of its HTTP prelude when it writes one."""
    lam = stratus.client("lambda")
    lam.create_function(FunctionName="chunky-url", Runtime="provided.al2023", Role=ROLE, Handler="x",
                        Code={"ZipFile": zip_of({"bootstrap": STREAMING_BOOTSTRAP}, {"bootstrap": 0o755})})
    url = lam.create_function_url_config(FunctionName="chunky-url", AuthType="NONE",
                                         InvokeMode="RESPONSE_STREAM")["FunctionUrl"]
    assert lam.get_function_url_config(FunctionName="chunky-url")["InvokeMode"] == "RESPONSE_STREAM"
    lam.add_permission(FunctionName="chunky-url", StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    url_id = url.split("//")[1].split(".")[0]
    host = {"Host": f"{url_id}.lambda-url.{REGION}.localhost:{stratus.port}"}
    with requests.get(stratus.url + "/?n=3", headers=host, stream=True, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers.get("transfer-encoding") == "chunked"
        assert b"".join(r.iter_content(chunk_size=None)) == b"chunk 0\nchunk 1\nchunk 2\n"
    r = requests.get(stratus.url + "/?n=2&prelude=1", headers=host, timeout=30)
    assert r.status_code == 201 and r.headers["x-a"] == "b" and r.headers["content-type"] == "text/plain"
    assert r.content == b"chunk 0\nchunk 1\n"
