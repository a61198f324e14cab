# Stratus's Python runtime loop: the Lambda Runtime API client for `python3.*` functions.
# Shipped inside the stratus binary and mounted read-only at /var/runtime.
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"
conn = http.client.HTTPConnection(API)


def call(method, path, body=None, headers=None):
    global conn
    for attempt in range(2):
        try:
            conn.request(method, BASE + path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp, resp.read()
        except (http.client.HTTPException, ConnectionError):
            if attempt:
                raise
            conn.close()
            conn = http.client.HTTPConnection(API)


def error_body(exc, error_type=None):
    tb = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(tb),
    }


def post_error(path, body):
    data = json.dumps(body).encode()
    call("POST", path, data, {"Content-Type": "application/json"})


class Context:
    def __init__(self, request_id, deadline_ms, arn, client_context, identity):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline_ms = deadline_ms
        self.client_context = json.loads(client_context) if client_context else None
        self.identity = json.loads(identity) if identity else None

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def load_handler():
    handler = os.environ.get("_HANDLER", "")
    module_name, _, func_name = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)")
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    for p in (task_root, "/opt/python"):
        if p not in sys.path:
            sys.path.insert(0 if p == task_root else len(sys.path), p)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        return None, ("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}", e)
    except SyntaxError as e:
        return None, ("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}", e)
    except Exception as e:
        return None, (None, str(e), e)
    func = getattr(module, func_name, None)
    if func is None:
        return None, ("Runtime.HandlerNotFound", f"Handler '{func_name}' missing on module '{module_name}'", None)
    return func, None


def main():
    func, failure = load_handler()
    if failure:
        error_type, message, exc = failure
        body = {"errorMessage": message, "errorType": error_type or type(exc).__name__,
                "requestId": "", "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)) if exc else []}
        print(f"[ERROR] {body['errorType']}: {message}", flush=True)
        post_error("/init/error", body)
        sys.exit(1)
    while True:
        resp, payload = call("GET", "/invocation/next")
        rid = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        ctx = Context(rid, int(resp.getheader("Lambda-Runtime-Deadline-Ms") or 0),
                      resp.getheader("Lambda-Runtime-Invoked-Function-Arn"),
                      resp.getheader("Lambda-Runtime-Client-Context"),
                      resp.getheader("Lambda-Runtime-Cognito-Identity"))
        os.environ["_X_AMZN_TRACE_ID"] = resp.getheader("Lambda-Runtime-Trace-Id") or ""
        try:
            event = json.loads(payload) if payload else {}
            result = func(event, ctx)
            data = json.dumps(result).encode()
        except Exception as e:
            body = error_body(e)
            body["requestId"] = rid
            print(f"[ERROR] {body['errorType']}: {body['errorMessage']}\nTraceback (most recent call last):\n"
                  + "".join(body["stackTrace"]), end="", flush=True)
            sys.stdout.flush()
            post_error(f"/invocation/{rid}/error", body)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        call("POST", f"/invocation/{rid}/response", data, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
