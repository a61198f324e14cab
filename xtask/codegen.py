#!/usr/bin/env python3
"""Generates Rust shapes, validators and wire (de)serializers from botocore's service models.

    python3 xtask/codegen.py          # rewrite every generated.rs
    python3 xtask/codegen.py --check  # fail if a generated file is out of date

Only the operations Stratus implements (SERVICES below) and the shapes they reach are
generated. No documentation text is copied from the models. The output is deterministic.
"""

import keyword
import re
import subprocess
import sys
from pathlib import Path

import botocore
import botocore.session

ROOT = Path(__file__).resolve().parent.parent

SERVICES = {
    "sts": {
        "crate": "stratus-sts",
        "operations": ["GetCallerIdentity", "AssumeRole", "GetSessionToken"],
        "extra_shapes": [],
    },
    "dynamodb": {
        "crate": "stratus-dynamodb",
        "operations": [
            "CreateTable", "DescribeTable", "ListTables", "DeleteTable", "UpdateTable",
            "TagResource", "UntagResource", "ListTagsOfResource", "DescribeLimits",
            "DescribeEndpoints",
            "PutItem", "GetItem", "DeleteItem", "UpdateItem", "Query", "Scan",
            "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
            "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
            "UpdateTimeToLive", "DescribeTimeToLive",
            "UpdateContinuousBackups", "DescribeContinuousBackups",
        ],
        # Attribute values are the engine's own type, validated with DynamoDB's messages.
        "type_overrides": {"AttributeValue": ("WireValue", "stratus_dynamodb_expr::value::WireValue")},
        # Shapes the service validates by hand (a table name that is not an ARN).
        "extra_shapes": ["TableName"],
    },
    "logs": {
        "crate": "stratus-logs",
        "operations": [
            "CreateLogGroup", "CreateLogStream", "DeleteLogGroup", "DeleteLogStream",
            "DescribeLogGroups", "DescribeLogStreams", "PutLogEvents", "GetLogEvents",
            "FilterLogEvents", "PutRetentionPolicy", "DeleteRetentionPolicy",
            "TagResource", "UntagResource", "ListTagsForResource",
        ],
        "extra_shapes": [],
    },
    "lambda": {
        "crate": "stratus-lambda",
        "operations": [
            "CreateFunction", "GetFunction", "GetFunctionConfiguration", "UpdateFunctionCode",
            "UpdateFunctionConfiguration", "DeleteFunction", "ListFunctions", "GetAccountSettings",
            "PublishVersion", "ListVersionsByFunction", "CreateAlias", "GetAlias", "UpdateAlias",
            "DeleteAlias", "ListAliases", "AddPermission", "RemovePermission", "GetPolicy",
            "TagResource", "UntagResource", "ListTags", "Invoke",
            "PublishLayerVersion", "GetLayerVersion", "ListLayers", "ListLayerVersions",
            "DeleteLayerVersion", "CreateFunctionUrlConfig", "GetFunctionUrlConfig",
            "UpdateFunctionUrlConfig", "DeleteFunctionUrlConfig", "ListFunctionUrlConfigs",
            "PutFunctionConcurrency", "GetFunctionConcurrency", "DeleteFunctionConcurrency",
            "PutProvisionedConcurrencyConfig", "GetProvisionedConcurrencyConfig",
            "DeleteProvisionedConcurrencyConfig", "ListProvisionedConcurrencyConfigs",
            "PutFunctionEventInvokeConfig", "GetFunctionEventInvokeConfig",
            "UpdateFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig",
            "ListFunctionEventInvokeConfigs", "InvokeAsync",
        ],
        "extra_shapes": [],
    },
    "apigatewayv2": {
        "crate": "stratus-apigateway",
        "out": "crates/stratus-apigateway/src/v2/generated.rs",
        "operations": [
            "CreateApi", "GetApi", "GetApis", "UpdateApi", "DeleteApi",
            "CreateRoute", "GetRoute", "GetRoutes", "UpdateRoute", "DeleteRoute",
            "CreateIntegration", "GetIntegration", "GetIntegrations", "UpdateIntegration",
            "DeleteIntegration",
            "CreateStage", "GetStage", "GetStages", "UpdateStage", "DeleteStage",
            "CreateDeployment", "GetDeployment", "GetDeployments", "DeleteDeployment",
            "CreateAuthorizer", "GetAuthorizer", "GetAuthorizers", "UpdateAuthorizer",
            "DeleteAuthorizer", "DeleteCorsConfiguration",
            "TagResource", "UntagResource", "GetTags",
        ],
        "extra_shapes": [],
    },
    "apigateway": {
        "crate": "stratus-apigateway",
        "out": "crates/stratus-apigateway/src/v1/generated.rs",
        "operations": [
            "CreateRestApi", "GetRestApi", "GetRestApis", "UpdateRestApi", "DeleteRestApi",
            "ImportRestApi", "PutRestApi", "GetExport",
            "CreateResource", "GetResource", "GetResources", "UpdateResource", "DeleteResource",
            "PutMethod", "GetMethod", "UpdateMethod", "DeleteMethod",
            "PutMethodResponse", "GetMethodResponse", "UpdateMethodResponse", "DeleteMethodResponse",
            "PutIntegration", "GetIntegration", "UpdateIntegration", "DeleteIntegration",
            "PutIntegrationResponse", "GetIntegrationResponse", "UpdateIntegrationResponse",
            "DeleteIntegrationResponse",
            "CreateDeployment", "GetDeployment", "GetDeployments", "DeleteDeployment",
            "CreateStage", "GetStage", "GetStages", "UpdateStage", "DeleteStage", "FlushStageCache",
            "CreateApiKey", "GetApiKey", "GetApiKeys", "UpdateApiKey", "DeleteApiKey",
            "CreateUsagePlan", "GetUsagePlan", "GetUsagePlans", "UpdateUsagePlan", "DeleteUsagePlan",
            "CreateUsagePlanKey", "GetUsagePlanKey", "GetUsagePlanKeys", "DeleteUsagePlanKey",
            "GetUsage",
            "CreateAuthorizer", "GetAuthorizer", "GetAuthorizers", "UpdateAuthorizer",
            "DeleteAuthorizer",
            "CreateRequestValidator", "GetRequestValidator", "GetRequestValidators",
            "UpdateRequestValidator", "DeleteRequestValidator",
            "CreateModel", "GetModel", "GetModels", "UpdateModel", "DeleteModel",
            "CreateDomainName", "GetDomainName", "GetDomainNames", "DeleteDomainName",
            "CreateBasePathMapping", "GetBasePathMapping", "GetBasePathMappings",
            "DeleteBasePathMapping",
            "TagResource", "UntagResource", "GetTags", "TestInvokeMethod",
        ],
        "extra_shapes": [],
    },
    "cognito-idp": {
        "crate": "stratus-cognito",
        "operations": [
            "CreateUserPool", "DescribeUserPool", "ListUserPools", "DeleteUserPool",
            "CreateUserPoolClient", "DescribeUserPoolClient", "ListUserPoolClients",
            "DeleteUserPoolClient",
            "AdminCreateUser", "AdminGetUser", "AdminDeleteUser", "AdminSetUserPassword",
            "AdminConfirmSignUp", "AdminUpdateUserAttributes", "ListUsers", "SignUp",
            "InitiateAuth", "AdminInitiateAuth", "RespondToAuthChallenge",
            "AdminRespondToAuthChallenge", "GetUser", "ChangePassword",
        ],
        "extra_shapes": [],
    },
    # Not served yet: generated for the protocol layer's golden wire tests of rest-xml (the
    # rest-json golden tests use Lambda's own generated code).
    "cloudfront": {
        "out": "crates/stratus-protocol/tests/generated/cloudfront.rs",
        "operations": ["CreateFunction", "DescribeFunction", "ListFunctions", "DeleteFunction"],
        "extra_shapes": [],
    },
}

LOCATED = ("uri", "querystring", "header", "headers", "statusCode")

RUST_RESERVED = set(keyword.kwlist) | {
    "type", "match", "fn", "mod", "use", "impl", "trait", "struct", "enum", "ref", "self",
    "super", "crate", "loop", "move", "mut", "pub", "return", "static", "where", "async",
    "await", "dyn", "box", "priv", "virtual", "final", "override", "macro", "abstract",
    "become", "do", "typeof", "unsized", "yield", "try", "gen",
}
RESERVED_TYPES = {"Result", "Option", "String", "Vec", "Box", "HashMap", "Path", "Blob", "Timestamp", "Self"}
# Java regex features the Rust `regex` crate lacks: such patterns are not enforced.
UNSUPPORTED_RE = re.compile(r"\(\?[=!<]|\\[0-9]|[*+?}]\+")


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    return "r#" + s if s in RUST_RESERVED else s


def type_name(shape):
    n = shape[0].upper() + shape[1:]
    return n + "Shape" if n in RESERVED_TYPES else n


def fn_name(shape):
    return "check_" + snake(shape).replace("r#", "")


def raw(s):
    hashes = "#"
    while '"' + hashes in s:
        hashes += "#"
    return f'r{hashes}"{s}"{hashes}'


class Gen:
    def __init__(self, service, spec):
        session = botocore.session.get_session()
        loader = session.get_component("data_loader")
        self.model = loader.load_service_model(spec.get("model", service), "service-2")
        self.shapes = self.model["shapes"]
        self.meta = self.model["metadata"]
        self.protocol = self.meta["protocol"]
        self.service = spec.get("model", service)
        self.spec = spec
        self.ops = spec["operations"]
        self.overrides = spec.get("type_overrides", {})
        for op in self.ops:
            assert op in self.model["operations"], op
        self.input_shapes = set()
        self.all_shapes = set()
        for op in self.ops:
            o = self.model["operations"][op]
            if "input" in o:
                self.walk(o["input"]["shape"], self.input_shapes)
                self.walk(o["input"]["shape"], self.all_shapes)
            if "output" in o:
                self.walk(o["output"]["shape"], self.all_shapes)
        for s in spec["extra_shapes"]:
            self.walk(s, self.input_shapes)
            self.walk(s, self.all_shapes)
        self.patterns = {}
        self.out = []

    def walk(self, name, seen):
        if name in seen or name in self.overrides:
            return
        seen.add(name)
        s = self.shapes[name]
        t = s["type"]
        if t == "structure":
            for m in s["members"].values():
                self.walk(m["shape"], seen)
        elif t == "list":
            self.walk(s["member"]["shape"], seen)
        elif t == "map":
            self.walk(s["key"]["shape"], seen)
            self.walk(s["value"]["shape"], seen)

    def rust_type(self, name, boxed=False):
        if name in self.overrides:
            return self.overrides[name][0]
        s = self.shapes[name]
        t = s["type"]
        if t == "string":
            return "String"
        if t == "integer":
            return "i32"
        if t == "long":
            return "i64"
        if t == "boolean":
            return "bool"
        if t in ("double", "float"):
            return "f64"
        if t == "timestamp":
            # JSON carries epoch seconds unless the model asks for ISO 8601 strings.
            if s.get("timestampFormat") == "iso8601" and self.protocol != "rest-xml":
                return "IsoTimestamp"
            return "Timestamp"
        if t == "blob":
            return "Blob"
        if t == "list":
            return f"Vec<{self.rust_type(s['member']['shape'])}>"
        if t == "map":
            return f"HashMap<String, {self.rust_type(s['value']['shape'])}>"
        if t == "structure":
            return f"Box<{type_name(name)}>" if boxed else type_name(name)
        raise SystemExit(f"unsupported shape type {t} ({name})")

    def directly_recursive(self, owner, member_shape, seen=None):
        """Whether `member_shape` reaches `owner` through structure members only."""
        seen = seen or set()
        if member_shape == owner:
            return True
        if member_shape in seen or self.shapes[member_shape]["type"] != "structure":
            return False
        seen.add(member_shape)
        return any(self.directly_recursive(owner, m["shape"], seen)
                   for m in self.shapes[member_shape]["members"].values())

    def emit(self, line=""):
        self.out.append(line)

    def regex_for(self, pattern):
        if pattern not in self.patterns:
            self.patterns[pattern] = f"RE_{len(self.patterns)}"
        return self.patterns[pattern]

    # ---- types ---------------------------------------------------------------------------

    def is_rest(self):
        return self.protocol in ("rest-json", "rest-xml")

    def body_member(self, shape_name, mname, m):
        """Whether a member travels in a JSON/XML body (not a label, query, header or payload)."""
        if not self.is_rest():
            return True
        if m.get("location") in LOCATED:
            return False
        return self.shapes[shape_name].get("payload") != mname

    def gen_struct(self, name):
        s = self.shapes[name]
        self.emit("#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]")
        self.emit(f"pub struct {type_name(name)} {{")
        for mname, m in s["members"].items():
            ty = self.rust_type(m["shape"], boxed=self.directly_recursive(name, m["shape"]))
            if self.body_member(name, mname, m):
                wire = m.get("locationName", mname) if self.protocol != "query" else mname
                self.emit(f'    #[serde(rename = "{wire}", default, skip_serializing_if = "Option::is_none")]')
            else:
                self.emit("    #[serde(skip)]")
            self.emit(f"    pub {snake(mname)}: Option<{ty}>,")
        self.emit("}")
        self.emit()

    # ---- validation ----------------------------------------------------------------------

    def gen_check(self, name):
        s = self.shapes[name]
        t = s["type"]
        ty = self.rust_type(name)
        arg = "&str" if ty == "String" else ("&" + ty if t in ("structure", "list", "map", "blob") else ty)
        body = []
        mn = s.get("min")
        mx = s.get("max")
        opt = lambda v: f"Some({v})" if v is not None else "None"
        if t == "string":
            if mn is not None or mx is not None:
                body.append(f"    v.str_len(p, x, {opt(mn)}, {opt(mx)});")
            if "enum" in s:
                vals = ", ".join(f'"{e}"' for e in s["enum"])
                body.append(f"    v.one_of(p, x, &[{vals}]);")
            if "pattern" in s and not UNSUPPORTED_RE.search(s["pattern"]):
                re_name = self.regex_for(s["pattern"])
                body.append(f"    v.pattern(p, x, &{re_name}, {raw(s['pattern'])});")
        elif t in ("integer", "long", "double", "float"):
            if mn is not None or mx is not None:
                f = lambda v: f"Some({float(v)!r}_f64)" if v is not None else "None"
                body.append(f"    v.range(p, x as f64, {f(mn)}, {f(mx)});")
        elif t == "blob":
            if mn is not None or mx is not None:
                body.append(f'    v.count(p, x.0.len(), "<binary>", {opt(mn)}, {opt(mx)});')
        elif t == "list":
            if mn is not None or mx is not None:
                body.append(f'    if x.is_empty() {{ v.count(p, 0, "[]", {opt(mn)}, {opt(mx)}); }} else {{ v.count(p, x.len(), "[...]", {opt(mn)}, {opt(mx)}); }}')
            el = s["member"]["shape"]
            if self.has_checks(el):
                et = self.shapes[el]["type"]
                pass_el = "e" if et in ("structure", "list", "map", "blob", "string") else "*e"
                body.append(f"    for (i, e) in x.iter().enumerate() {{ let ep = p.index(i); {fn_name(el)}({pass_el}, &ep, v); }}")
        elif t == "map":
            if mn is not None or mx is not None:
                body.append(f'    v.count(p, x.len(), "{{...}}", {opt(mn)}, {opt(mx)});')
            k, val = s["key"]["shape"], s["value"]["shape"]
            parts = []
            if self.has_checks(k):
                parts.append(f"{fn_name(k)}(k, &kp, v);")
            if self.has_checks(val):
                vt = self.shapes[val]["type"]
                pass_v = "e" if vt in ("structure", "list", "map", "blob", "string") else "*e"
                parts.append(f"{fn_name(val)}({pass_v}, &kp, v);")
            if parts:
                body.append(f"    for (k, e) in x.iter() {{ let kp = p.key(k); {' '.join(parts)} }}")
        elif t == "structure":
            body.append("    x.validate(p, v);")
        if not body:
            return False
        self.emit(f"pub fn {fn_name(name)}(x: {arg}, p: &Path<'_>, v: &mut Violations) {{")
        for b in body:
            self.emit(b)
        self.emit("}")
        self.emit()
        return True

    def has_checks(self, name, seen=None):
        if name in self.overrides:
            return False
        s = self.shapes[name]
        t = s["type"]
        if t == "structure":
            return True
        if t == "string":
            return any(k in s for k in ("min", "max", "enum")) or ("pattern" in s and not UNSUPPORTED_RE.search(s["pattern"]))
        if t in ("integer", "long", "double", "float", "blob"):
            return "min" in s or "max" in s
        if t == "list":
            return "min" in s or "max" in s or self.has_checks(s["member"]["shape"])
        if t == "map":
            return "min" in s or "max" in s or self.has_checks(s["key"]["shape"]) or self.has_checks(s["value"]["shape"])
        return False

    def gen_validate_impl(self, name):
        s = self.shapes[name]
        required = set(s.get("required", []))
        self.emit(f"impl Validate for {type_name(name)} {{")
        self.emit("    fn validate(&self, path: &Path<'_>, v: &mut Violations) {")
        any_member = False
        for mname, m in s["members"].items():
            checks = self.has_checks(m["shape"])
            req = mname in required
            if not checks and not req:
                continue
            any_member = True
            field = snake(mname)
            mt = self.shapes[m["shape"]]["type"]
            if mt == "string":
                val = "x.as_str()"
            elif mt in ("structure", "list", "map", "blob"):
                val = "x" if not self.directly_recursive(name, m["shape"]) else "&**x"
            else:
                val = "*x"
            self.emit(f'        let p = path.field("{mname}");')
            if req and checks:
                self.emit(f"        match &self.{field} {{ None => v.null(&p), Some(x) => {fn_name(m['shape'])}({val}, &p, v) }}")
            elif req:
                self.emit(f"        if self.{field}.is_none() {{ v.null(&p); }}")
            else:
                self.emit(f"        if let Some(x) = &self.{field} {{ {fn_name(m['shape'])}({val}, &p, v); }}")
        if not any_member:
            self.emit("        let _ = (path, v);")
        self.emit("    }")
        self.emit("}")
        self.emit()

    # ---- query protocol ------------------------------------------------------------------

    def gen_from_query(self, name):
        s = self.shapes[name]
        self.emit(f"impl FromQuery for {type_name(name)} {{")
        self.emit("    fn from_query(q: &QueryParams, prefix: &str) -> Result<Self, AwsError> {")
        self.emit("        Ok(Self {")
        for mname, m in s["members"].items():
            key = f'&query::member(prefix, "{m.get("locationName", mname)}")'
            self.emit(f"            {snake(mname)}: {self.query_reader(m['shape'], key)},")
        self.emit("        })")
        self.emit("    }")
        self.emit("}")
        self.emit()

    def query_reader(self, shape, key):
        s = self.shapes[shape]
        t = s["type"]
        if t == "structure":
            return f"{{ let k = {key}; if q.has_prefix(k) {{ Some({type_name(shape)}::from_query(q, k)?) }} else {{ None }} }}"
        if t == "list":
            el = s["member"]["shape"]
            et = self.shapes[el]["type"]
            if et == "structure":
                read = f"|q, p| {type_name(el)}::from_query(q, p).map(Some)"
            elif et in ("list", "map"):
                raise SystemExit(f"nested collections in query input are not supported ({shape})")
            else:
                read = "|q, p| query::scalar(q, p)"
            return f"query::list(q, {key}, {read})?"
        if t == "map":
            raise SystemExit(f"maps in query input are not supported yet ({shape})")
        if t == "timestamp":
            raise SystemExit(f"timestamps in query input are not supported yet ({shape})")
        return f"query::scalar(q, {key})?"

    def gen_to_xml(self, name):
        s = self.shapes[name]
        self.emit(f"impl ToXml for {type_name(name)} {{")
        self.emit("    fn write_members(&self, w: &mut XmlWriter) {")
        for mname, m in s["members"].items():
            if self.is_rest() and m.get("location") in LOCATED:
                continue
            tag = m.get("locationName", mname)
            self.emit(f"        if let Some(x) = &self.{snake(mname)} {{")
            self.emit_xml_value(m["shape"], tag, "x", "            ")
            self.emit("        }")
        if not s["members"]:
            self.emit("        let _ = w;")
        self.emit("    }")
        self.emit("}")
        self.emit()

    def emit_xml_value(self, shape, tag, var, ind):
        s = self.shapes[shape]
        t = s["type"]
        if t == "structure":
            self.emit(f'{ind}w.open("{tag}"); {var}.write_members(w); w.close("{tag}");')
        elif t == "list":
            el = s["member"]["shape"]
            mtag = s["member"].get("locationName", "member")
            self.emit(f'{ind}w.open("{tag}");')
            self.emit(f"{ind}for e in {var} {{")
            self.emit_xml_value(el, mtag, "e", ind + "    ")
            self.emit(f"{ind}}}")
            self.emit(f'{ind}w.close("{tag}");')
        elif t == "map":
            raise SystemExit(f"maps in query output are not supported yet ({shape})")
        else:
            self.emit(f'{ind}w.leaf("{tag}", &{var}.xml_text());')


    # ---- REST protocols ------------------------------------------------------------------

    def gen_routes(self):
        self.emit("/// HTTP bindings of every operation of the model.")
        self.emit("pub const ROUTES: &[rest::Route] = &[")
        for op in sorted(self.model["operations"]):
            h = self.model["operations"][op]["http"]
            self.emit(f'    rest::Route {{ operation: "{op}", method: "{h["method"]}", uri: "{h["requestUri"]}", status: {h.get("responseCode", 200)} }},')
        self.emit("];")
        self.emit()

    def scalar_rust(self, shape):
        return self.rust_type(shape)

    def gen_from_rest(self, name, op):
        s = self.shapes[name]
        payload = s.get("payload")
        xml = self.protocol == "rest-xml"
        self.emit(f"impl FromRest for {type_name(name)} {{")
        self.emit("    fn from_rest(req: &RestRequest<'_>) -> Result<Self, AwsError> {")
        has_body = any(self.body_member(name, k, m) for k, m in s["members"].items())
        if payload:
            self.emit("        let mut out = Self::default();")
        elif has_body and xml:
            self.emit("        let mut out = if req.body().iter().all(u8::is_ascii_whitespace) { Self::default() } else { Self::from_xml(&XmlNode::parse(req.body())?)? };")
        elif has_body:
            self.emit("        let mut out: Self = rest::json_body(req.body())?;")
        else:
            self.emit("        let mut out = Self::default();")
        for mname, m in s["members"].items():
            f = snake(mname)
            loc = m.get("location")
            lname = m.get("locationName", mname)
            target = self.shapes[m["shape"]]
            t = target["type"]
            if loc == "uri":
                self.emit(f'        out.{f} = rest::scalar(req.label("{lname}"), Location::Label, "{mname}")?;')
            elif loc == "querystring":
                if t == "list":
                    self.emit(f'        out.{f} = rest::scalar_list(req.query_all("{lname}"), "{mname}")?;')
                elif t == "map":
                    self.emit(f"        out.{f} = {{ let m = req.query_map(); (!m.is_empty()).then_some(m) }};")
                else:
                    self.emit(f'        out.{f} = rest::scalar(req.query("{lname}"), Location::Query, "{mname}")?;')
            elif loc == "header":
                if t in ("list", "map"):
                    raise SystemExit(f"{t} headers are not supported yet ({name}.{mname})")
                self.emit(f'        out.{f} = rest::scalar(req.header("{lname}"), Location::Header, "{mname}")?;')
            elif loc == "headers":
                self.emit(f'        out.{f} = {{ let m = req.headers_with_prefix("{lname}"); (!m.is_empty()).then_some(m) }};')
            elif payload == mname:
                if t == "blob":
                    self.emit(f"        out.{f} = (!req.body().is_empty()).then(|| Blob(req.body().to_vec()));")
                elif t == "string":
                    self.emit(f"        out.{f} = (!req.body().is_empty()).then(|| String::from_utf8_lossy(req.body()).into_owned());")
                elif t == "structure" and xml:
                    self.emit(f"        out.{f} = if req.body().iter().all(u8::is_ascii_whitespace) {{ None }} else {{ Some({type_name(m['shape'])}::from_xml(&XmlNode::parse(req.body())?)?) }};")
                elif t == "structure":
                    self.emit(f"        out.{f} = if req.body().iter().all(u8::is_ascii_whitespace) {{ None }} else {{ Some(rest::json_body(req.body())?) }};")
                else:
                    raise SystemExit(f"unsupported payload type {t} ({name}.{mname})")
        self.emit("        Ok(out)")
        self.emit("    }")
        self.emit("}")
        self.emit()

    def gen_to_rest(self, name):
        s = self.shapes[name]
        payload = s.get("payload")
        xml = self.protocol == "rest-xml"
        ns = self.meta.get("xmlNamespace")
        self.emit(f"impl ToRest for {type_name(name)} {{")
        self.emit("    fn to_rest(&self, status: u16) -> ApiResponse {")
        self.emit("        let mut r = RestResponse::new(status);")
        for mname, m in s["members"].items():
            f = snake(mname)
            loc = m.get("location")
            lname = m.get("locationName", mname)
            if loc == "statusCode":
                self.emit(f"        if let Some(v) = self.{f} {{ r.status(v as i32); }}")
            elif loc == "header":
                self.emit(f'        if let Some(v) = &self.{f} {{ r.header("{lname}", v); }}')
            elif loc == "headers":
                self.emit(f'        if let Some(v) = &self.{f} {{ r.header_map("{lname}", v); }}')
        if payload:
            m = s["members"][payload]
            t = self.shapes[m["shape"]]["type"]
            f = snake(payload)
            if t == "blob":
                self.emit(f'        if let Some(v) = &self.{f} {{ r.raw(&v.0, "application/octet-stream"); }}')
            elif t == "string":
                self.emit(f'        if let Some(v) = &self.{f} {{ r.raw(v.as_bytes(), "text/plain"); }}')
            elif xml:
                root = m.get("locationName", m["shape"])
                nsarg = f'Some("{ns["uri"]}")' if isinstance(ns, dict) else "None"
                self.emit(f'        if let Some(v) = &self.{f} {{ r.xml("{root}", {nsarg}, v); }}')
            else:
                self.emit(f"        if let Some(v) = &self.{f} {{ r.json(v); }}")
        elif any(self.body_member(name, k, m) for k, m in s["members"].items()):
            if xml:
                nsarg = f'Some("{ns["uri"]}")' if isinstance(ns, dict) else "None"
                self.emit(f'        r.xml("{s.get("locationName", name)}", {nsarg}, self);')
            else:
                self.emit("        r.json(self);")
        self.emit("        r.finish()")
        self.emit("    }")
        self.emit("}")
        self.emit()

    def gen_from_xml(self, name):
        s = self.shapes[name]
        self.emit(f"impl FromXml for {type_name(name)} {{")
        self.emit("    fn from_xml(node: &XmlNode) -> Result<Self, AwsError> {")
        self.emit("        let mut out = Self::default();")
        for mname, m in s["members"].items():
            if m.get("location") in LOCATED:
                continue
            f = snake(mname)
            tag = m.get("locationName", mname)
            child = 'node.child("' + tag + '")'
            reader = self.xml_reader(m["shape"], child, m, node_expr="node", tag=tag)
            self.emit(f"        out.{f} = {reader};")
        self.emit("        Ok(out)")
        self.emit("    }")
        self.emit("}")
        self.emit()

    def xml_element(self, shape, var):
        """An expression reading one element `var` (a &XmlNode) as `shape`, as Result<T>."""
        t = self.shapes[shape]["type"]
        if t == "structure":
            return f"{type_name(shape)}::from_xml({var})"
        if t in ("list", "map"):
            raise SystemExit(f"nested XML collections are not supported yet ({shape})")
        return f"xml::scalar::<{self.rust_type(shape)}>(Some({var})).map(|v| v.unwrap_or_default())"

    def xml_reader(self, shape, child_expr, member, node_expr, tag):
        s = self.shapes[shape]
        t = s["type"]
        if t == "structure":
            return f"match {child_expr} {{ Some(n) => Some({type_name(shape)}::from_xml(n)?), None => None }}"
        if t == "list":
            el = s["member"]["shape"]
            el_tag = s["member"].get("locationName", "member")
            if s.get("flattened") or member.get("flattened"):
                return (f"{{ let v = {node_expr}.children_named(\"{tag}\").map(|c| {self.xml_element(el, 'c')})"
                        f".collect::<Result<Vec<_>, AwsError>>()?; (!v.is_empty()).then_some(v) }}")
            return (f"match {child_expr} {{ Some(n) => Some(n.children_named(\"{el_tag}\").map(|c| {self.xml_element(el, 'c')})"
                    f".collect::<Result<Vec<_>, AwsError>>()?), None => None }}")
        if t == "map":
            k = s["key"].get("locationName", "key")
            v = s["value"].get("locationName", "value")
            return (f"match {child_expr} {{ Some(n) => Some(n.children_named(\"entry\").map(|e| Ok((e.child(\"{k}\").map(|k| k.text.clone()).unwrap_or_default(), "
                    f"match e.child(\"{v}\") {{ Some(c) => {self.xml_element(s['value']['shape'], 'c')}?, None => Default::default() }})))"
                    f".collect::<Result<HashMap<_, _>, AwsError>>()?), None => None }}")
        return f"xml::scalar({child_expr})?"

    # ---- file ----------------------------------------------------------------------------

    def generate(self):
        md = self.meta
        self.emit(f"// @generated by xtask/codegen.py from botocore {botocore.__version__}: {self.service} {md['apiVersion']} ({self.protocol}).")
        self.emit("// Do not edit by hand: change the generator and run `python3 xtask/codegen.py`.")
        self.emit("#![allow(clippy::all, dead_code, unused_imports, unused_variables, unused_mut)]")
        self.emit()
        self.emit("use std::collections::HashMap;")
        self.emit("use std::sync::LazyLock;")
        self.emit()
        self.emit("use regex::Regex;")
        self.emit("use serde::{Deserialize, Serialize};")
        self.emit("use stratus_protocol::AwsError;")
        self.emit("use stratus_protocol::query::{self, FromQuery, QueryParams};")
        self.emit("use stratus_protocol::types::{Blob, IsoTimestamp, Timestamp};")
        self.emit("use stratus_protocol::validate::{Path, Validate, Violations, anchored};")
        self.emit("use stratus_protocol::rest::{self, FromRest, Location, RestRequest, RestResponse, ToRest};")
        self.emit("use stratus_protocol::xml::{self, FromXml, ToXml, XmlNode, XmlScalar, XmlWriter};")
        self.emit("use stratus_protocol::ApiResponse;")
        for _, path in self.overrides.values():
            self.emit(f"use {path};")
        self.emit()
        self.emit(f'pub const API_VERSION: &str = "{md["apiVersion"]}";')
        self.emit(f'pub const SIGNING_NAME: &str = "{md.get("signingName", md["endpointPrefix"])}";')
        if "targetPrefix" in md:
            self.emit(f'pub const TARGET_PREFIX: &str = "{md["targetPrefix"]}";')
        if "jsonVersion" in md:
            self.emit(f'pub const JSON_VERSION: &str = "{md["jsonVersion"]}";')
        if "xmlNamespace" in md:
            self.emit(f'pub const XML_NAMESPACE: &str = "{md["xmlNamespace"]}";')
        self.emit()
        self.emit("/// Every operation of the model: one not implemented yet answers `NotImplemented`.")
        self.emit("pub const OPERATIONS: &[&str] = &[")
        for op in sorted(self.model["operations"]):
            self.emit(f'    "{op}",')
        self.emit("];")
        self.emit()
        unsigned = sorted(
            name for name, op in self.model["operations"].items()
            if op.get("authtype") == "none" or op.get("auth") == ["smithy.api#noAuth"]
        )
        if unsigned:
            self.emit("/// Operations AWS accepts without a signature (the caller proves itself another way).")
            self.emit("pub const UNSIGNED_OPERATIONS: &[&str] = &[")
            for op in unsigned:
                self.emit(f'    "{op}",')
            self.emit("];")
            self.emit()
        if self.is_rest():
            self.gen_routes()
        body_start = len(self.out)
        structs = sorted(n for n in self.all_shapes if self.shapes[n]["type"] == "structure")
        for n in structs:
            self.gen_struct(n)
        for n in sorted(self.input_shapes):
            if self.has_checks(n):
                self.gen_check(n)
            if self.shapes[n]["type"] == "structure":
                self.gen_validate_impl(n)
        if self.protocol == "query":
            for n in sorted(self.input_shapes):
                if self.shapes[n]["type"] == "structure":
                    self.gen_from_query(n)
            outputs = set()
            for op in self.ops:
                o = self.model["operations"][op]
                if "output" in o:
                    self.walk(o["output"]["shape"], outputs)
            for n in sorted(outputs):
                if self.shapes[n]["type"] == "structure":
                    self.gen_to_xml(n)
        if self.is_rest():
            outputs = set()
            done = set()
            for op in self.ops:
                o = self.model["operations"][op]
                if "input" in o and o["input"]["shape"] not in done:
                    done.add(o["input"]["shape"])
                    self.gen_from_rest(o["input"]["shape"], op)
                if "output" in o and o["output"]["shape"] not in done:
                    done.add(o["output"]["shape"])
                    self.gen_to_rest(o["output"]["shape"])
                    self.walk(o["output"]["shape"], outputs)
            if self.protocol == "rest-xml":
                for n in sorted(self.input_shapes):
                    if self.shapes[n]["type"] == "structure":
                        self.gen_from_xml(n)
                for n in sorted(outputs):
                    if self.shapes[n]["type"] == "structure":
                        self.gen_to_xml(n)
        pats = [f"static {v}: LazyLock<Regex> = LazyLock::new(|| anchored({raw(p)}));" for p, v in self.patterns.items()]
        self.out[body_start:body_start] = pats + ([""] if pats else [])
        self.emit("#[cfg(test)]")
        self.emit("mod tests {")
        self.emit("    #[test]")
        self.emit("    fn model_patterns_compile() {")
        for v in self.patterns.values():
            self.emit(f"        let _ = &*super::{v};")
        self.emit("    }")
        self.emit("}")
        return "\n".join(self.out) + "\n"


def rustfmt(text):
    """Formats like `cargo fmt` does, so that the check and the formatter agree."""
    out = subprocess.run(
        ["rustfmt", "--edition", "2024", "--config-path", str(ROOT / "rustfmt.toml"), "--emit", "stdout"],
        input=text, capture_output=True, text=True, check=True,
    )
    return out.stdout


def main():
    check = "--check" in sys.argv
    stale = []
    for service, spec in SERVICES.items():
        text = rustfmt(Gen(service, spec).generate())
        path = ROOT / spec["out"] if "out" in spec else ROOT / "crates" / spec["crate"] / "src" / "generated.rs"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    if stale:
        print("out of date (run python3 xtask/codegen.py):", *stale, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
