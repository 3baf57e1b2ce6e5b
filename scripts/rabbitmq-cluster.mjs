#!/usr/bin/env node
// A three-node RabbitMQ cluster for tests, separate from the machine's RabbitMQ:
//
//   node scripts/rabbitmq-cluster.mjs start            # reuses a running cluster
//   node scripts/rabbitmq-cluster.mjs stop             # stops all three, removes their data
//   node scripts/rabbitmq-cluster.mjs kill <n>         # SIGKILL node n's Erlang VM (by its pid file)
//   node scripts/rabbitmq-cluster.mjs restart <n>      # starts node n again; it rejoins the cluster
//   node scripts/rabbitmq-cluster.mjs status [--json]
//   node scripts/rabbitmq-cluster.mjs leader <queue>   # the node leading a quorum queue
//   node scripts/rabbitmq-cluster.mjs urls             # the comma-separated AMQP URL list
//
// Node n (1-3) is `c<n>@localhost`: AMQP on 127.0.0.1:570<n>, management on 1570<n>,
// Erlang distribution on 2570<n>, everything (data, logs, config, pid file, plugins file)
// under $BLOODBANK_CLUSTER_DIR (default /tmp/33god-cluster)/c<n>.
//
// Isolation from the machine's node (`rabbit@localhost`): every command runs with an
// environment stripped of RABBITMQ_* and ERL_* variables and then given this cluster's own,
// including its own RABBITMQ_CONF_ENV_FILE (the machine's rabbitmq-env.conf names
// rabbit@localhost as the default node) and its own HOME holding its own Erlang cookie. With
// a cookie the machine's node does not share, no command of this script can reach that node
// even by mistake; every CLI call also names its target node with -n. The cluster's processes
// are found by their pid files, or by this directory in their command line, and signalled by pid.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const CLUSTER_DIR = process.env.BLOODBANK_CLUSTER_DIR ?? '/tmp/33god-cluster';
const SBIN = '/usr/lib/rabbitmq/bin';
const NODES = [1, 2, 3];
const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');

export const node = (n) => ({
  n,
  name: `c${n}@localhost`,
  amqpPort: 5700 + n,
  managementPort: 15700 + n,
  distPort: 25700 + n,
  dir: join(CLUSTER_DIR, `c${n}`),
  pidFile: join(CLUSTER_DIR, `c${n}`, 'rabbitmq.pid'),
  url: `amqp://guest:guest@127.0.0.1:${5700 + n}`,
  managementUrl: `http://127.0.0.1:${15700 + n}`,
});

export const clusterUrls = () => NODES.map((n) => node(n).url).join(',');

const log = (msg) => process.stderr.write(`[cluster] ${msg}\n`);

/** The environment of every RabbitMQ command: nothing inherited that names a node or a file. */
function clusterEnv(n) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RABBITMQ_') && !k.startsWith('ERL_') && v !== undefined) env[k] = v;
  }
  env.HOME = join(CLUSTER_DIR, 'home');
  env.ERL_EPMD_ADDRESS = '127.0.0.1';
  env.RABBITMQ_CONF_ENV_FILE = join(CLUSTER_DIR, 'rabbitmq-env.conf');
  if (n !== undefined) {
    const d = node(n);
    Object.assign(env, {
      RABBITMQ_NODENAME: d.name,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(d.amqpPort),
      RABBITMQ_DIST_PORT: String(d.distPort),
      RABBITMQ_MNESIA_BASE: join(d.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(d.dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(d.dir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(d.dir, 'advanced.config'),
      RABBITMQ_PID_FILE: d.pidFile,
      RABBITMQ_ENABLED_PLUGINS_FILE: join(d.dir, 'enabled_plugins'),
      RABBITMQ_PLUGINS_EXPAND_DIR: join(d.dir, 'plugins-expand'),
      // Two shared cores: one scheduler each and no busy waiting, so three idle nodes stay idle.
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:
        '+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none -kernel inet_dist_use_interface {127,0,0,1}',
    });
  }
  return env;
}

/** Runs a RabbitMQ CLI tool; resolves { ok, out }. Never throws. */
function cli(tool, args, { n, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve) => {
    execFile(
      join(SBIN, tool),
      args,
      { env: clusterEnv(n), cwd: CLUSTER_DIR, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}`.trim() }),
    );
  });
}

const ctl = (n, args, opts) => cli('rabbitmqctl', ['-n', node(n).name, ...args], opts);

function readPid(n) {
  try {
    const pid = Number(readFileSync(node(n).pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid) {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed process stays a zombie until its parent reaps it; it is gone all the same.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Erlang VMs whose command line names this cluster's directory: what a lost pid file leaves. */
function strayPids() {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd;
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('beam') && cmd.includes(`${CLUSTER_DIR}/c`)) out.push(Number(entry));
  }
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitGone(pid, ms) {
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  return !alive(pid);
}

function writeNodeFiles(n) {
  const d = node(n);
  mkdirSync(join(d.dir, 'mnesia'), { recursive: true });
  mkdirSync(join(d.dir, 'log'), { recursive: true });
  writeFileSync(
    join(d.dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.1 = 127.0.0.1:${d.amqpPort}`,
      'management.tcp.ip = 127.0.0.1',
      `management.tcp.port = ${d.managementPort}`,
      // Tests publish little; a node must not block publishers because /tmp is shared.
      'disk_free_limit.absolute = 50MB',
      'vm_memory_high_watermark.relative = 0.2',
      'log.file.level = info',
      'log.console = false',
      '',
    ].join('\n'),
  );
  writeFileSync(join(d.dir, 'enabled_plugins'), '[rabbitmq_management].\n');
  // The deployment's own advanced.config: what the tests and the bench measure is what deploy/ runs.
  copyFileSync(join(ROOT, 'deploy', 'rabbitmq', 'advanced.config'), join(d.dir, 'advanced.config'));
}

function writeClusterFiles() {
  mkdirSync(join(CLUSTER_DIR, 'home'), { recursive: true, mode: 0o700 });
  const cookie = join(CLUSTER_DIR, 'home', '.erlang.cookie');
  if (!existsSync(cookie))
    writeFileSync(cookie, randomBytes(20).toString('hex').toUpperCase(), { mode: 0o400 });
  writeFileSync(
    join(CLUSTER_DIR, 'rabbitmq-env.conf'),
    '# this cluster sets everything through the environment\n',
  );
  for (const n of NODES) writeNodeFiles(n);
}

/** Starts node n detached and waits until its application runs. */
async function startNode(n) {
  const d = node(n);
  if (alive(readPid(n))) return;
  rmSync(d.pidFile, { force: true });
  await new Promise((resolve, reject) => {
    const p = spawn(join(SBIN, 'rabbitmq-server'), ['-detached'], {
      env: clusterEnv(n),
      cwd: CLUSTER_DIR,
      stdio: 'ignore',
    });
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`rabbitmq-server ${d.name} exited ${code}`)),
    );
  });
  const r = await ctl(n, ['wait', '--timeout', '120', d.pidFile], { timeoutMs: 130_000 });
  if (!r.ok) throw new Error(`${d.name} did not start:\n${r.out}\n(see ${join(d.dir, 'log')})`);
}

async function clusterStatus(n) {
  const r = await ctl(n, ['cluster_status', '--formatter', 'json'], { timeoutMs: 30_000 });
  if (!r.ok) return undefined;
  try {
    const s = JSON.parse(r.out.slice(r.out.indexOf('{')));
    return { members: s.disk_nodes ?? [], running: s.running_nodes ?? [] };
  } catch {
    return undefined;
  }
}

/** True when all three nodes run and see each other. */
async function formed() {
  if (!NODES.every((n) => alive(readPid(n)))) return false;
  const s = await clusterStatus(1);
  return s !== undefined && NODES.every((n) => s.running.includes(node(n).name));
}

export async function start() {
  const t0 = Date.now();
  if (await formed()) {
    log(`reusing the running cluster (${clusterUrls()})`);
    return { reused: true, ms: Date.now() - t0 };
  }
  await stop({ quiet: true });
  writeClusterFiles();
  await Promise.all(NODES.map(startNode));
  const booted = Date.now() - t0;
  // c2 and c3 join c1: stop_app and start_app on both at once (each CLI call boots an Erlang
  // VM, seconds on a busy machine), join_cluster one after the other.
  const joiners = NODES.slice(1);
  const step = async (n, args) => {
    const r = await ctl(n, args, { timeoutMs: 120_000 });
    if (!r.ok) throw new Error(`rabbitmqctl -n ${node(n).name} ${args.join(' ')} failed:\n${r.out}`);
  };
  await Promise.all(joiners.map((n) => step(n, ['stop_app'])));
  for (const n of joiners) await step(n, ['join_cluster', node(1).name]);
  await Promise.all(joiners.map((n) => step(n, ['start_app'])));
  if (!(await formed())) throw new Error('the three nodes did not form one cluster');
  const ms = Date.now() - t0;
  log(`cluster formed in ${ms} ms (nodes booted in ${booted} ms): ${clusterUrls()}`);
  return { reused: false, ms, bootMs: booted };
}

/** Stops every node (gracefully, then SIGKILL) and removes the cluster's directory. */
export async function stop({ quiet = false } = {}) {
  await Promise.all(
    NODES.map(async (n) => {
      const pid = readPid(n);
      if (!alive(pid)) return;
      await ctl(n, ['stop', node(n).pidFile], { timeoutMs: 30_000 });
      if (!(await waitGone(pid, 5_000))) {
        process.kill(pid, 'SIGKILL');
        await waitGone(pid, 5_000);
      }
    }),
  );
  for (const pid of strayPids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
    await waitGone(pid, 5_000);
  }
  rmSync(CLUSTER_DIR, { recursive: true, force: true });
  if (!quiet) log('cluster stopped, data removed');
}

/** SIGKILLs node n's Erlang VM: the crash the failover tests are about. `killedAt`: when the signal went. */
export async function kill(n) {
  const pid = readPid(n);
  if (!alive(pid)) throw new Error(`${node(n).name} is not running`);
  process.kill(pid, 'SIGKILL');
  const killedAt = Date.now();
  await waitGone(pid, 10_000);
  log(`killed ${node(n).name} (pid ${pid})`);
  return { node: node(n).name, pid, killedAt };
}

export async function restart(n) {
  const pid = readPid(n);
  if (alive(pid)) {
    await ctl(n, ['stop', node(n).pidFile], { timeoutMs: 30_000 });
    await waitGone(pid, 10_000);
  }
  const t0 = Date.now();
  await startNode(n);
  log(`${node(n).name} started again in ${Date.now() - t0} ms`);
}

export async function status() {
  const nodes = NODES.map((n) => {
    const d = node(n);
    const pid = readPid(n);
    return {
      name: d.name,
      pid: pid ?? null,
      running: alive(pid),
      url: d.url,
      managementUrl: d.managementUrl,
    };
  });
  const up = nodes.find((x) => x.running);
  const cluster = up ? await clusterStatus(Number(up.name[1])) : undefined;
  return { dir: CLUSTER_DIR, nodes, cluster: cluster ?? null };
}

/** Which node leads a quorum queue, and its members, from the management API of a running node. */
export async function leader(queue, vhost = '/') {
  for (const n of NODES) {
    if (!alive(readPid(n))) continue;
    try {
      const res = await fetch(
        `${node(n).managementUrl}/api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`,
        {
          headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
          signal: AbortSignal.timeout(5_000),
        },
      );
      if (res.status === 404) return { queue, leader: null, members: [], type: null };
      if (!res.ok) continue;
      const q = await res.json();
      return { queue, leader: q.leader ?? q.node ?? null, members: q.members ?? [], type: q.type ?? null };
    } catch {
      // this node's management API is not up: ask the next
    }
  }
  throw new Error('no node of the cluster answered on its management API');
}

async function main(argv) {
  const [cmd, arg] = argv;
  const json = argv.includes('--json');
  const nodeArg = () => {
    const n = Number(arg);
    if (!NODES.includes(n)) throw new Error(`expected a node number 1-3, got '${arg ?? ''}'`);
    return n;
  };
  const print = (v) =>
    process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v, null, json ? 0 : 2)}\n`);
  switch (cmd) {
    case 'start':
      print(await start());
      break;
    case 'stop':
      await stop();
      break;
    case 'kill':
      print(await kill(nodeArg()));
      break;
    case 'restart':
      await restart(nodeArg());
      break;
    case 'status':
      print(await status());
      break;
    case 'leader':
      if (!arg) throw new Error('usage: leader <queue>');
      print(await leader(arg));
      break;
    case 'urls':
      print(clusterUrls());
      break;
    default:
      throw new Error(
        'usage: rabbitmq-cluster.mjs start | stop | kill <n> | restart <n> | status | leader <queue> | urls',
      );
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
