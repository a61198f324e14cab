"""Cognito user pools through boto3 and raw HTTP: pools, clients, users, sign-up and sign-in
with real RS256 tokens that verify against the pool's published JWKS."""

import base64
import hashlib
import hmac
import json

import jwt
import pytest
import requests
from botocore.exceptions import ClientError

PASSWORD = "Correct-Horse-9"


def code_of(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def pool_and_client(stratus, flows=("ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH",
                                    "ALLOW_REFRESH_TOKEN_AUTH"), secret=False, **pool_args):
    idp = stratus.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="app", **pool_args)["UserPool"]
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web", ExplicitAuthFlows=list(flows),
                                         GenerateSecret=secret)["UserPoolClient"]
    return idp, pool, client


def verified_claims(stratus, pool_id, token, audience=None):
    """Verifies a token the way an application does: the issuer's JWKS over HTTP."""
    issuer = f"{stratus.url}/{pool_id}"
    config = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == issuer
    key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], issuer=issuer, audience=audience,
                      options={"verify_aud": audience is not None})


def test_pools_and_clients(stratus):
    idp = stratus.client("cognito-idp")
    pool = idp.create_user_pool(
        PoolName="shop", Policies={"PasswordPolicy": {"MinimumLength": 10, "RequireSymbols": False}},
        Schema=[{"Name": "tier", "AttributeDataType": "String", "Mutable": True}],
        UserPoolTags={"team": "web"})["UserPool"]
    assert pool["Id"].startswith("us-east-1_")
    assert pool["Arn"] == f"arn:aws:cognito-idp:us-east-1:000000000000:userpool/{pool['Id']}"
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == 10 and policy["RequireSymbols"] is False
    names = {a["Name"] for a in pool["SchemaAttributes"]}
    assert {"sub", "email", "custom:tier"} <= names

    described = idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
    assert described["Name"] == "shop" and described["UserPoolTags"] == {"team": "web"}
    other = idp.create_user_pool(PoolName="other")["UserPool"]
    listed = idp.list_user_pools(MaxResults=1)
    assert len(listed["UserPools"]) == 1 and "NextToken" in listed
    rest = idp.list_user_pools(MaxResults=10, NextToken=listed["NextToken"])
    assert {p["Id"] for p in listed["UserPools"] + rest["UserPools"]} == {pool["Id"], other["Id"]}

    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web", GenerateSecret=True)
    client = client["UserPoolClient"]
    assert len(client["ClientId"]) == 26 and client["ClientSecret"]
    assert set(client["ExplicitAuthFlows"]) == {"ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH",
                                                "ALLOW_CUSTOM_AUTH"}
    got = idp.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=client["ClientId"])["UserPoolClient"]
    assert got["ClientSecret"] == client["ClientSecret"]
    clients = idp.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=10)["UserPoolClients"]
    assert [c["ClientName"] for c in clients] == ["web"]

    # Another pool's client is not this pool's; a deleted client is gone.
    with pytest.raises(ClientError) as e:
        idp.describe_user_pool_client(UserPoolId=other["Id"], ClientId=client["ClientId"])
    assert code_of(e)[0] == "ResourceNotFoundException"
    idp.delete_user_pool_client(UserPoolId=pool["Id"], ClientId=client["ClientId"])
    with pytest.raises(ClientError) as e:
        idp.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=client["ClientId"])
    assert code_of(e)[0] == "ResourceNotFoundException"

    # Pools belong to their account: another account's key does not see them.
    sts = stratus.client("sts")
    assert sts.get_caller_identity()["Account"] == "000000000000"
    with pytest.raises(ClientError) as e:
        idp.describe_user_pool(UserPoolId="us-east-1_nothere1")
    assert code_of(e) == ("ResourceNotFoundException", "User pool us-east-1_nothere1 does not exist.")

    # Deletion protection, then deletion.
    guarded = idp.create_user_pool(PoolName="guarded", DeletionProtection="ACTIVE")["UserPool"]
    with pytest.raises(ClientError) as e:
        idp.delete_user_pool(UserPoolId=guarded["Id"])
    assert code_of(e)[0] == "InvalidParameterException"
    idp.delete_user_pool(UserPoolId=other["Id"])
    with pytest.raises(ClientError) as e:
        idp.describe_user_pool(UserPoolId=other["Id"])
    assert code_of(e)[0] == "ResourceNotFoundException"

    # The model's constraints answer InvalidParameterException, as Cognito does.
    raw = stratus.client("cognito-idp", validate=False)
    with pytest.raises(ClientError) as e:
        raw.create_user_pool(PoolName="")
    assert code_of(e)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        raw.create_user_pool_client(UserPoolId=pool["Id"], ClientName="x", AccessTokenValidity=2,
                                    TokenValidityUnits={"AccessToken": "days"})
    assert code_of(e)[0] == "InvalidParameterException"


def test_sign_up_sign_in_and_tokens(stratus):
    idp, pool, client = pool_and_client(stratus, AutoVerifiedAttributes=["email"])
    cid = client["ClientId"]
    with pytest.raises(ClientError) as e:
        idp.sign_up(ClientId=cid, Username="jane", Password="short")
    assert code_of(e) == ("InvalidPasswordException", "Password did not conform with policy: Password not long enough")
    with pytest.raises(ClientError) as e:
        idp.sign_up(ClientId=cid, Username="jane", Password="nouppercase-1")
    assert code_of(e)[1].endswith("Password must have uppercase characters")
    with pytest.raises(ClientError) as e:
        idp.sign_up(ClientId=cid, Username="jane", Password=PASSWORD,
                    UserAttributes=[{"Name": "shoe_size", "Value": "9"}])
    assert code_of(e)[0] == "InvalidParameterException"

    out = idp.sign_up(ClientId=cid, Username="jane", Password=PASSWORD,
                      UserAttributes=[{"Name": "email", "Value": "jane@example.com"}])
    assert out["UserConfirmed"] is False
    assert out["CodeDeliveryDetails"] == {"Destination": "j***@e***", "DeliveryMedium": "EMAIL",
                                          "AttributeName": "email"}
    sub = out["UserSub"]
    with pytest.raises(ClientError) as e:
        idp.sign_up(ClientId=cid, Username="jane", Password=PASSWORD)
    assert code_of(e) == ("UsernameExistsException", "User already exists")

    auth = {"USERNAME": "jane", "PASSWORD": PASSWORD}
    with pytest.raises(ClientError) as e:
        idp.initiate_auth(ClientId=cid, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    assert code_of(e) == ("UserNotConfirmedException", "User is not confirmed.")
    idp.admin_confirm_sign_up(UserPoolId=pool["Id"], Username="jane")
    with pytest.raises(ClientError) as e:
        idp.admin_confirm_sign_up(UserPoolId=pool["Id"], Username="jane")
    assert code_of(e)[0] == "NotAuthorizedException"

    result = idp.initiate_auth(ClientId=cid, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    tokens = result["AuthenticationResult"]
    assert tokens["TokenType"] == "Bearer" and tokens["ExpiresIn"] == 3600
    id_claims = verified_claims(stratus, pool["Id"], tokens["IdToken"], audience=cid)
    assert id_claims["sub"] == sub and id_claims["token_use"] == "id"
    assert id_claims["cognito:username"] == "jane" and id_claims["email"] == "jane@example.com"
    access = verified_claims(stratus, pool["Id"], tokens["AccessToken"])
    assert access["client_id"] == cid and access["token_use"] == "access" and access["username"] == "jane"
    assert access["exp"] - access["iat"] == 3600

    me = idp.get_user(AccessToken=tokens["AccessToken"])
    assert me["Username"] == "jane"
    assert {"Name": "sub", "Value": sub} in me["UserAttributes"]

    with pytest.raises(ClientError) as e:
        idp.initiate_auth(ClientId=cid, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": "jane", "PASSWORD": "Wrong-Pass-1"})
    assert code_of(e) == ("NotAuthorizedException", "Incorrect username or password.")
    with pytest.raises(ClientError) as e:
        idp.initiate_auth(ClientId=cid, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": "nobody", "PASSWORD": PASSWORD})
    assert code_of(e) == ("UserNotFoundException", "User does not exist.")
    with pytest.raises(ClientError) as e:
        idp.initiate_auth(ClientId="nosuchclient", AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    assert code_of(e)[0] == "ResourceNotFoundException"

    # The refresh token gives new ID and access tokens, without a new refresh token.
    again = idp.initiate_auth(ClientId=cid, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})["AuthenticationResult"]
    assert "RefreshToken" not in again
    assert verified_claims(stratus, pool["Id"], again["IdToken"], audience=cid)["sub"] == sub
    with pytest.raises(ClientError) as e:
        idp.initiate_auth(ClientId=cid, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": "forged"})
    assert code_of(e) == ("NotAuthorizedException", "Invalid Refresh Token")

    # ChangePassword needs the old password; the new one signs in.
    with pytest.raises(ClientError) as e:
        idp.change_password(AccessToken=tokens["AccessToken"], PreviousPassword="Nope-1234",
                            ProposedPassword="Another-Pass-2")
    assert code_of(e)[0] == "NotAuthorizedException"
    idp.change_password(AccessToken=tokens["AccessToken"], PreviousPassword=PASSWORD,
                        ProposedPassword="Another-Pass-2")
    idp.initiate_auth(ClientId=cid, AuthFlow="USER_PASSWORD_AUTH",
                      AuthParameters={"USERNAME": "jane", "PASSWORD": "Another-Pass-2"})

    # A flow the client does not allow, and one Stratus does not offer.
    _, _, srp_only = pool_and_client(stratus, flows=("ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"))
    with pytest.raises(ClientError) as e:
        idp.initiate_auth(ClientId=srp_only["ClientId"], AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    assert code_of(e) == ("InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client")

    # Access tokens expire on the server's clock.
    stratus.advance_clock(3601)
    with pytest.raises(ClientError) as e:
        idp.get_user(AccessToken=tokens["AccessToken"])
    assert code_of(e) == ("NotAuthorizedException", "Access Token has expired")


def test_only_sign_in_calls_go_unsigned(stratus):
    idp, pool, client = pool_and_client(stratus)
    target = "AWSCognitoIdentityProviderService."

    def unsigned(op, body):
        return requests.post(stratus.url, data=json.dumps(body), timeout=10, headers={
            "X-Amz-Target": target + op, "Content-Type": "application/x-amz-json-1.1"})

    r = unsigned("SignUp", {"ClientId": client["ClientId"], "Username": "bob", "Password": PASSWORD})
    assert r.status_code == 200, r.text
    assert len(r.json()["UserSub"]) == 36
    # Administration needs a valid signature.
    r = unsigned("CreateUserPool", {"PoolName": "sneaky"})
    assert r.status_code in (400, 403), r.text
    assert r.json()["__type"].split("#")[-1] == "MissingAuthenticationTokenException"
    r = unsigned("AdminConfirmSignUp", {"UserPoolId": pool["Id"], "Username": "bob"})
    assert r.status_code in (400, 403)
    bad = stratus.client("cognito-idp", secret="wrong")
    with pytest.raises(ClientError) as e:
        bad.admin_confirm_sign_up(UserPoolId=pool["Id"], Username="bob")
    assert code_of(e)[0] in ("InvalidSignatureException", "SignatureDoesNotMatch")

    # Forged and foreign tokens are refused.
    idp.admin_confirm_sign_up(UserPoolId=pool["Id"], Username="bob")
    tokens = idp.admin_initiate_auth(UserPoolId=pool["Id"], ClientId=client["ClientId"],
                                     AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": "bob", "PASSWORD": PASSWORD})["AuthenticationResult"]
    header, payload, signature = tokens["AccessToken"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["username"] = "admin"
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="),
                       signature])
    for token in (forged, tokens["IdToken"], "not-a-token"):
        with pytest.raises(ClientError) as e:
            idp.get_user(AccessToken=token)
        assert code_of(e) == ("NotAuthorizedException", "Invalid Access Token"), token[:20]
    r = requests.get(f"{stratus.url}/us-east-1_nothere9/.well-known/jwks.json", timeout=10)
    assert r.status_code == 404


def test_admin_created_user_sets_a_new_password(stratus):
    idp, pool, client = pool_and_client(stratus)
    pid, cid = pool["Id"], client["ClientId"]
    user = idp.admin_create_user(UserPoolId=pid, Username="carol", TemporaryPassword="Temp-Pass-1",
                                 UserAttributes=[{"Name": "email", "Value": "carol@example.com"},
                                                 {"Name": "email_verified", "Value": "true"}],
                                 MessageAction="SUPPRESS")["User"]
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD" and user["Enabled"] is True
    with pytest.raises(ClientError) as e:
        idp.admin_create_user(UserPoolId=pid, Username="carol", MessageAction="SUPPRESS")
    assert code_of(e) == ("UsernameExistsException", "User account already exists")

    step = idp.admin_initiate_auth(UserPoolId=pid, ClientId=cid, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": "carol", "PASSWORD": "Temp-Pass-1"})
    assert step["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    assert json.loads(step["ChallengeParameters"]["userAttributes"])["email"] == "carol@example.com"
    with pytest.raises(ClientError) as e:
        idp.respond_to_auth_challenge(ClientId=cid, ChallengeName="NEW_PASSWORD_REQUIRED", Session="b" * 40,
                                      ChallengeResponses={"USERNAME": "carol", "NEW_PASSWORD": "Final-Pass-2"})
    assert code_of(e)[0] == "NotAuthorizedException"
    with pytest.raises(ClientError) as e:
        idp.admin_respond_to_auth_challenge(UserPoolId=pid, ClientId=cid, ChallengeName="NEW_PASSWORD_REQUIRED",
                                            Session=step["Session"],
                                            ChallengeResponses={"USERNAME": "carol", "NEW_PASSWORD": "weak"})
    assert code_of(e)[0] == "InvalidPasswordException"
    done = idp.admin_respond_to_auth_challenge(
        UserPoolId=pid, ClientId=cid, ChallengeName="NEW_PASSWORD_REQUIRED", Session=step["Session"],
        ChallengeResponses={"USERNAME": "carol", "NEW_PASSWORD": "Final-Pass-2", "userAttributes.name": "Carol"})
    claims = verified_claims(stratus, pid, done["AuthenticationResult"]["IdToken"], audience=cid)
    assert claims["name"] == "Carol" and claims["email_verified"] is True
    got = idp.admin_get_user(UserPoolId=pid, Username="carol")
    assert got["UserStatus"] == "CONFIRMED"

    idp.admin_set_user_password(UserPoolId=pid, Username="carol", Password="Set-By-Admin-3", Permanent=True)
    with pytest.raises(ClientError) as e:
        idp.admin_update_user_attributes(UserPoolId=pid, Username="carol",
                                         UserAttributes=[{"Name": "sub", "Value": "x"}])
    assert code_of(e)[0] == "InvalidParameterException"
    idp.admin_update_user_attributes(UserPoolId=pid, Username="carol",
                                     UserAttributes=[{"Name": "family_name", "Value": "Jones"}])
    attrs = {a["Name"]: a["Value"] for a in idp.admin_get_user(UserPoolId=pid, Username="carol")["UserAttributes"]}
    assert attrs["family_name"] == "Jones" and attrs["name"] == "Carol"
    tokens = idp.admin_initiate_auth(UserPoolId=pid, ClientId=cid, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": "carol", "PASSWORD": "Set-By-Admin-3"})
    assert "IdToken" in tokens["AuthenticationResult"]

    idp.admin_delete_user(UserPoolId=pid, Username="carol")
    with pytest.raises(ClientError) as e:
        idp.admin_get_user(UserPoolId=pid, Username="carol")
    assert code_of(e) == ("UserNotFoundException", "User does not exist.")
    with pytest.raises(ClientError) as e:
        idp.initiate_auth(ClientId=cid, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": tokens["AuthenticationResult"]["RefreshToken"]})
    assert code_of(e)[0] == "NotAuthorizedException"


def test_client_secret_and_email_usernames(stratus):
    idp, pool, client = pool_and_client(stratus, secret=True, UsernameAttributes=["email"])
    cid, secret = client["ClientId"], client["ClientSecret"]

    def secret_hash(username):
        mac = hmac.new(secret.encode(), (username + cid).encode(), hashlib.sha256).digest()
        return base64.b64encode(mac).decode()

    with pytest.raises(ClientError) as e:
        idp.sign_up(ClientId=cid, Username="dave@example.com", Password=PASSWORD)
    assert code_of(e) == ("NotAuthorizedException",
                          f"Client {cid} is configured for secret but secret was not received")
    with pytest.raises(ClientError) as e:
        idp.sign_up(ClientId=cid, Username="dave@example.com", Password=PASSWORD, SecretHash="AAAA")
    assert code_of(e) == ("NotAuthorizedException", f"Unable to verify secret hash for client {cid}")
    with pytest.raises(ClientError) as e:
        idp.sign_up(ClientId=cid, Username="dave", Password=PASSWORD, SecretHash=secret_hash("dave"))
    assert code_of(e) == ("InvalidParameterException", "Username should be an email.")

    sub = idp.sign_up(ClientId=cid, Username="dave@example.com", Password=PASSWORD,
                      SecretHash=secret_hash("dave@example.com"))["UserSub"]
    with pytest.raises(ClientError) as e:
        idp.sign_up(ClientId=cid, Username="Dave@Example.com", Password=PASSWORD,
                    SecretHash=secret_hash("Dave@Example.com"))
    assert code_of(e) == ("UsernameExistsException", "An account with the given email already exists.")
    # The username is the user's sub; the email signs in.
    idp.admin_confirm_sign_up(UserPoolId=pool["Id"], Username="dave@example.com")
    got = idp.admin_get_user(UserPoolId=pool["Id"], Username="dave@example.com")
    assert got["Username"] == sub
    out = idp.initiate_auth(ClientId=cid, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": "dave@example.com", "PASSWORD": PASSWORD, "SECRET_HASH": secret_hash("dave@example.com")})
    claims = verified_claims(stratus, pool["Id"], out["AuthenticationResult"]["IdToken"], audience=cid)
    assert claims["cognito:username"] == sub and claims["email"] == "dave@example.com"


def test_list_users_with_filters(stratus):
    idp, pool, _ = pool_and_client(stratus)
    pid = pool["Id"]
    for name, email in [("ann", "ann@a.com"), ("ben", "ben@b.com"), ("bea", "bea@b.com")]:
        idp.admin_create_user(UserPoolId=pid, Username=name, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email}])
    idp.admin_set_user_password(UserPoolId=pid, Username="ben", Password=PASSWORD, Permanent=True)
    names = lambda out: [u["Username"] for u in out["Users"]]
    assert names(idp.list_users(UserPoolId=pid)) == ["ann", "bea", "ben"]
    page = idp.list_users(UserPoolId=pid, Limit=2)
    assert names(page) == ["ann", "bea"]
    assert names(idp.list_users(UserPoolId=pid, Limit=2, PaginationToken=page["PaginationToken"])) == ["ben"]
    assert names(idp.list_users(UserPoolId=pid, Filter='email ^= "b"')) == ["bea", "ben"]
    assert names(idp.list_users(UserPoolId=pid, Filter='username = "ann"')) == ["ann"]
    assert names(idp.list_users(UserPoolId=pid, Filter='cognito:user_status = "CONFIRMED"')) == ["ben"]
    only = idp.list_users(UserPoolId=pid, Filter='username = "ann"', AttributesToGet=["email"])
    assert only["Users"][0]["Attributes"] == [{"Name": "email", "Value": "ann@a.com"}]
    with pytest.raises(ClientError) as e:
        idp.list_users(UserPoolId=pid, Filter="email = ann")
    assert code_of(e)[0] == "InvalidParameterException"


def test_pools_users_and_keys_survive_a_restart(new_server):
    server = new_server()
    idp, pool, client = pool_and_client(server)
    idp.admin_create_user(UserPoolId=pool["Id"], Username="erin", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username="erin", Password=PASSWORD, Permanent=True)
    before = idp.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "erin", "PASSWORD": PASSWORD})["AuthenticationResult"]
    server.kill9()
    server.start()
    idp = server.client("cognito-idp")
    # Tokens issued before still verify (the signing key is stored), sign-in still works.
    assert idp.get_user(AccessToken=before["AccessToken"])["Username"] == "erin"
    after = idp.initiate_auth(ClientId=client["ClientId"], AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": before["RefreshToken"]})["AuthenticationResult"]
    assert verified_claims(server, pool["Id"], after["IdToken"], audience=client["ClientId"])["cognito:username"] \
        == "erin"
