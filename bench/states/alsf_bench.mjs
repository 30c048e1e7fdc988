// The baseline of bench/states/run.sh: aws-local-stepfunctions (the ASL interpreter the
// design names as the peer), in process, one Node.js thread (see bench/README.md).
//
//   node alsf_bench.mjs --workloads DIR --case NAME [--seconds S] [--warmup W]
//                       [--max-executions N]
//
// Builds one StateMachine from DIR/NAME.asl.json (validated once, before the clock), checks
// that a run of DIR/NAME.input.json gives DIR/NAME.expected.json, runs untimed for W
// seconds (the JIT warms up), then runs executions one after another (each awaited before
// the next starts) for S seconds or N executions. Prints one JSON object: executions,
// seconds, cpu_seconds (this process, user + system), and the library's version.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { StateMachine } from 'aws-local-stepfunctions';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const dir = arg('workloads');
const name = arg('case');
const seconds = Number(arg('seconds', '3'));
const warmup = Number(arg('warmup', '1'));
const maxExecutions = Number(arg('max-executions', '100000000'));
if (!dir || !name) {
  console.error('usage: node alsf_bench.mjs --workloads DIR --case NAME [--seconds S] [--warmup W]');
  process.exit(2);
}
const read = (suffix) => JSON.parse(readFileSync(`${dir}/${name}.${suffix}.json`, 'utf8'));
const definition = read('asl');
const input = read('input');
const expected = read('expected');

const machine = new StateMachine(definition);
const runOnce = () => machine.run(input).result;

const first = await runOnce();
if (!isDeepStrictEqual(first, expected)) {
  console.error(`${name}: unexpected output ${JSON.stringify(first).slice(0, 300)}`);
  process.exit(1);
}

const now = () => performance.now() / 1000;
let until = now() + warmup;
while (now() < until) await runOnce();

const cpu0 = process.cpuUsage();
const t0 = now();
until = t0 + seconds;
let n = 0;
while (n < maxExecutions && now() < until) {
  await runOnce();
  n++;
}
const elapsed = now() - t0;
const cpu = process.cpuUsage(cpu0);

// run.sh copies this file next to node_modules (bench/.cache/states-node), so the import
// above resolves to the locked install.
const version = JSON.parse(readFileSync(new URL('./node_modules/aws-local-stepfunctions/package.json',
  import.meta.url), 'utf8')).version;
console.log(JSON.stringify({
  system: 'aws-local-stepfunctions',
  version,
  node: process.version,
  case: name,
  executions: n,
  seconds: elapsed,
  cpu_seconds: (cpu.user + cpu.system) / 1e6,
}));
