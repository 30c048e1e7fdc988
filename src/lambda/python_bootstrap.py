# Sluice's runtime for python3.x functions: a Lambda Runtime API client run by the
# machine's python3 in each worker process. It imports the handler's module once (at the
# first invocation, like AWS's runtime) and then loops: GET /invocation/next, call the
# handler with (event, context), POST /response or /error.
import http.client
import importlib
import json
import os
import re
import sys
import time
import traceback

_API = os.environ["AWS_LAMBDA_RUNTIME_API"]
_BASE = "/2018-06-01/runtime"


class _Client:
    def __init__(self):
        self._conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(_API)
            try:
                self._conn.request(method, _BASE + path, body=body, headers=headers or {})
                r = self._conn.getresponse()
                return r.status, r.headers, r.read()
            except (http.client.HTTPException, OSError):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


class _FaultyHandler:
    """Raised at every invocation when the handler could not be loaded, as AWS does."""

    def __init__(self, error_type, message):
        self.error_type, self.message = error_type, message


def _endpoint_shim():
    # botocore reads AWS_ENDPOINT_URL itself from 1.31 on; older ones are given it here, so
    # handlers reach Sluice with no endpoint in their code.
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return
    try:
        import importlib.util
        spec = importlib.util.find_spec("botocore")
        if spec is None or not spec.origin:
            return
        with open(spec.origin) as f:
            m = re.search(r"__version__ = '(\d+)\.(\d+)", f.read())
        if not m or (int(m.group(1)), int(m.group(2))) >= (1, 31):
            return
        import botocore.session
    except Exception:
        return
    original = botocore.session.Session.create_client

    def create_client(self, *args, **kwargs):
        if len(args) < 6 and kwargs.get("endpoint_url") is None:
            kwargs["endpoint_url"] = url
        return original(self, *args, **kwargs)

    botocore.session.Session.create_client = create_client


def _load_handler(spec):
    try:
        module_path, function = spec.rsplit(".", 1)
    except ValueError as e:
        return _FaultyHandler("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}")
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        return _FaultyHandler("Runtime.ImportModuleError", f"Unable to import module '{module_path}': {e}")
    except SyntaxError as e:
        return _FaultyHandler("Runtime.UserCodeSyntaxError",
                              f"Syntax error in module '{module_path}': {e.msg} ({e.filename and os.path.basename(e.filename)}, line {e.lineno})")
    except Exception as e:
        return _FaultyHandler("Runtime.ImportModuleError", f"Unable to import module '{module_path}': {e}")
    handler = getattr(module, function, None)
    if handler is None:
        return _FaultyHandler("Runtime.HandlerNotFound", f"Handler '{function}' missing on module '{module_path}'")
    return handler


def _error(e, request_id, tb=None):
    stack = traceback.format_list(traceback.extract_tb(tb)[1:]) if tb is not None else []
    return {"errorMessage": str(e), "errorType": type(e).__name__, "requestId": request_id, "stackTrace": stack}


def main():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    _endpoint_shim()
    client = _Client()
    handler = _load_handler(os.environ.get("_HANDLER", ""))
    while True:
        status, headers, body = client.request("GET", "/invocation/next")
        if status != 200:
            sys.exit(1)
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        deadline = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        os.environ["_X_AMZN_TRACE_ID"] = headers.get("Lambda-Runtime-Trace-Id", "")
        if isinstance(handler, _FaultyHandler):
            payload = {"errorMessage": handler.message, "errorType": handler.error_type, "requestId": request_id,
                       "stackTrace": []}
            print(f"[ERROR] {handler.error_type}: {handler.message}", file=sys.stderr, flush=True)
            client.request("POST", f"/invocation/{request_id}/error", json.dumps(payload).encode(),
                           {"Lambda-Runtime-Function-Error-Type": handler.error_type})
            continue
        try:
            event = json.loads(body) if body else {}
            result = handler(event, LambdaContext(request_id, deadline, arn))
            try:
                out = json.dumps(result).encode()
            except (TypeError, ValueError) as e:
                raise _MarshalError(f"Unable to marshal response: {e}") from None
            sys.stdout.flush()
            client.request("POST", f"/invocation/{request_id}/response", out, {"Content-Type": "application/json"})
        except Exception as e:
            err = _error(e, request_id, e.__traceback__)
            if isinstance(e, _MarshalError):
                err["errorType"] = "Runtime.MarshalError"
            lines = "".join(err["stackTrace"])
            print(f"[ERROR] {err['errorType']}: {err['errorMessage']}\nTraceback (most recent call last):\n{lines}",
                  file=sys.stderr, end="", flush=True)
            sys.stdout.flush()
            client.request("POST", f"/invocation/{request_id}/error", json.dumps(err).encode(),
                           {"Lambda-Runtime-Function-Error-Type": err["errorType"]})


class _MarshalError(Exception):
    pass


if __name__ == "__main__":
    main()
