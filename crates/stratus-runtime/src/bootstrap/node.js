// Stratus's Node.js runtime loop: the Lambda Runtime API client for `nodejs*` functions.
// Shipped inside the stratus binary and mounted read-only at /var/runtime.
"use strict";
const http = require("http");
const path = require("path");
const fs = require("fs");
const { pathToFileURL } = require("url");

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = "/2018-06-01/runtime";

function call(method, p, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: BASE + p, agent, headers: headers || {} }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ res, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorBody(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: e.name || "Error",
    errorMessage: e.message,
    trace: (e.stack || "").split("\n"),
  };
}

async function postError(p, err, type) {
  const body = JSON.stringify(type ? { ...errorBody(err), errorType: type } : errorBody(err));
  await call("POST", p, body, { "Content-Type": "application/json" });
}

async function loadHandler() {
  const handler = process.env._HANDLER || "";
  const root = process.env.LAMBDA_TASK_ROOT || "/var/task";
  const dot = handler.lastIndexOf(".");
  if (dot < 0) throw Object.assign(new Error(`Bad handler ${handler}`), { name: "Runtime.MalformedHandlerName" });
  const modPath = handler.slice(0, dot);
  const fnName = handler.slice(dot + 1);
  const base = path.resolve(root, modPath);
  let file = null;
  for (const ext of [".js", ".mjs", ".cjs"]) {
    if (fs.existsSync(base + ext)) { file = base + ext; break; }
  }
  if (!file) {
    throw Object.assign(new Error(`Cannot find module '${modPath}'`), { name: "Runtime.ImportModuleError" });
  }
  let mod;
  try {
    mod = file.endsWith(".cjs") ? require(file) : await import(pathToFileURL(file).href);
  } catch (e) {
    if (e && e.code === "ERR_REQUIRE_ESM") mod = await import(pathToFileURL(file).href);
    else throw e;
  }
  let fn = mod[fnName];
  if (fn === undefined && mod.default) fn = mod.default[fnName];
  if (typeof fn !== "function") {
    throw Object.assign(new Error(`${modPath}.${fnName} is undefined or not exported`), { name: "Runtime.HandlerNotFound" });
  }
  return fn;
}

function invoke(fn, event, context) {
  return new Promise((resolve, reject) => {
    let done = false;
    const callback = (err, result) => {
      if (done) return;
      done = true;
      err ? reject(err) : resolve(result);
    };
    try {
      const out = fn(event, context, callback);
      if (out && typeof out.then === "function") {
        out.then((r) => callback(null, r), (e) => callback(e));
      } else if (fn.length < 3) {
        callback(null, out);
      }
    } catch (e) {
      callback(e);
    }
  });
}

async function main() {
  let fn;
  try {
    fn = await loadHandler();
  } catch (e) {
    console.error(`${e.name}: ${e.message}`);
    await postError("/init/error", e);
    process.exit(1);
  }
  for (;;) {
    const { res, body } = await call("GET", "/invocation/next");
    const h = res.headers;
    const rid = h["lambda-runtime-aws-request-id"];
    const deadline = Number(h["lambda-runtime-deadline-ms"] || 0);
    process.env._X_AMZN_TRACE_ID = h["lambda-runtime-trace-id"] || "";
    const context = {
      awsRequestId: rid,
      invokedFunctionArn: h["lambda-runtime-invoked-function-arn"],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext: h["lambda-runtime-client-context"] ? JSON.parse(h["lambda-runtime-client-context"]) : undefined,
      identity: h["lambda-runtime-cognito-identity"] ? JSON.parse(h["lambda-runtime-cognito-identity"]) : undefined,
      getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
      callbackWaitsForEmptyEventLoop: true,
    };
    let result;
    try {
      const event = body.length ? JSON.parse(body.toString()) : {};
      result = await invoke(fn, event, context);
    } catch (e) {
      const eb = errorBody(e);
      console.error(`${new Date().toISOString()}\t${rid}\tERROR\tInvoke Error \t${JSON.stringify(eb)}`);
      await postError(`/invocation/${rid}/error`, e);
      continue;
    }
    const data = result === undefined ? "null" : JSON.stringify(result);
    await call("POST", `/invocation/${rid}/response`, data, { "Content-Type": "application/json" });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
