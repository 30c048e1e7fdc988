// Sluice's runtime for nodejs* functions: a Lambda Runtime API client run by the machine's
// node in each worker process. Loads the handler's module once (CommonJS or ES module),
// then loops: GET /invocation/next, call the handler (async, or with a callback), POST
// /response or /error. console.* lines carry the timestamp, request id and level, as on AWS.
'use strict';
const http = require('http');
const path = require('path');
const fs = require('fs');
const util = require('util');
const { pathToFileURL } = require('url');

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const AGENT = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = '/2018-06-01/runtime';
let currentId = '';

function request(method, p, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port: PORT, method, path: BASE + p, agent: AGENT,
                               headers: Object.assign({ 'Content-Type': 'application/json' }, headers || {}) }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

for (const [name, level] of [['log', 'INFO'], ['info', 'INFO'], ['warn', 'WARN'], ['error', 'ERROR'], ['debug', 'DEBUG']]) {
  const stream = level === 'ERROR' || level === 'WARN' ? process.stderr : process.stdout;
  console[name] = (...args) => {
    stream.write(`${new Date().toISOString()}\t${currentId || 'undefined'}\t${level}\t${util.format(...args).replace(/\n/g, '\r')}\n`);
  };
}

class FaultyHandler {
  constructor(type, message) { this.type = type; this.message = message; }
}

async function loadHandler(spec) {
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const dot = spec.lastIndexOf('.');
  if (dot <= 0) return new FaultyHandler('Runtime.MalformedHandlerName', `Bad handler ${spec}`);
  const modPath = spec.slice(0, dot);
  const fnName = spec.slice(dot + 1);
  let file = null;
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const f = path.resolve(root, modPath + ext);
    if (fs.existsSync(f)) { file = f; break; }
  }
  if (!file) return new FaultyHandler('Runtime.ImportModuleError', `Error: Cannot find module '${modPath}'`);
  let mod;
  try {
    try {
      mod = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
    } catch (e) {
      if (e.code !== 'ERR_REQUIRE_ESM') throw e;
      mod = await import(pathToFileURL(file).href);
    }
  } catch (e) {
    if (e instanceof SyntaxError) return new FaultyHandler('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`);
    return new FaultyHandler('Runtime.ImportModuleError', `${e.name}: ${e.message}`);
  }
  const fn = mod[fnName] !== undefined ? mod[fnName] : (mod.default && mod.default[fnName]);
  if (typeof fn !== 'function') {
    return new FaultyHandler('Runtime.HandlerNotFound', `${spec} is undefined or not exported`);
  }
  return fn;
}

function errorPayload(err) {
  if (err instanceof Error) {
    return { errorType: err.name || 'Error', errorMessage: err.message, trace: (err.stack || '').split('\n') };
  }
  return { errorType: 'string', errorMessage: String(err), trace: [] };
}

function run(fn, event, context) {
  return new Promise((resolve, reject) => {
    let done = false;
    const callback = (err, result) => {
      if (done) return;
      done = true;
      if (err !== null && err !== undefined) reject(err); else resolve(result);
    };
    context.done = callback;
    context.succeed = (r) => callback(null, r);
    context.fail = (e) => callback(e);
    try {
      const r = fn(event, context, callback);
      if (r && typeof r.then === 'function') r.then((v) => callback(null, v), (e) => callback(e));
      else if (fn.length < 3) callback(null, r);
    } catch (e) {
      callback(e);
    }
  });
}

async function main() {
  const handler = await loadHandler(process.env._HANDLER || '');
  for (;;) {
    const next = await request('GET', '/invocation/next');
    if (next.status !== 200) process.exit(1);
    const id = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
    currentId = id;
    process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'] || '';
    const context = {
      awsRequestId: id,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    let error;
    let result;
    if (handler instanceof FaultyHandler) {
      error = { errorType: handler.type, errorMessage: handler.message, trace: [] };
    } else {
      try {
        result = JSON.stringify((await run(handler, next.body ? JSON.parse(next.body) : {}, context)) ?? null);
      } catch (e) {
        error = errorPayload(e);
      }
    }
    if (error) {
      console.error('Invoke Error', JSON.stringify(error));
      await request('POST', `/invocation/${id}/error`, JSON.stringify(error),
                    { 'Lambda-Runtime-Function-Error-Type': error.errorType });
    } else {
      await request('POST', `/invocation/${id}/response`, result);
    }
    currentId = '';
  }
}

main().catch((e) => {
  process.stderr.write(`runtime failure: ${e && e.stack || e}\n`);
  process.exit(1);
});
