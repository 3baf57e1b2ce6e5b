import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { AppError, envVar, parse, projectRoot, readEnv } from '@33god/core';
import { DEFAULT_COMPONENT_CHECKS } from './checks/defaults.js';
import { ENV_NAME, isDispatcherSecret } from './checks/environment.js';

/**
 * Configuration of the Infra Dispatcher: defaults first (`DEFAULT_DISPATCHER_CONFIG`),
 * then the environment (`configFromEnv`), then validation (`resolveDispatcherConfig`).
 * Every part also takes the resolved object directly, so tests never touch `process.env`.
 */

export type CheckMode = 'block' | 'report';

/** One component check: a shell command run in `cwd` (relative paths resolve against `checksRoot`). */
export interface ComponentCheckSpec {
  readonly command: string;
  readonly cwd: string;
  /**
   * Variables of the dispatcher's environment the check gets besides `BASE_CHECK_ENV`
   * (by name; one the dispatcher does not have is left out). The dispatcher's own
   * secrets are refused.
   */
  readonly passEnv?: readonly string[];
  /** Variables set to these values. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface DispatcherConfig {
  /** Bearer token OpenClaw expects on `/hooks/agent`. Required to serve. */
  readonly hookToken: string;
  readonly hookUrl: string;
  /** OpenClaw `deliver`: whether the agent's answer is sent to a chat channel. Kept internal by default. */
  readonly hookDeliver: boolean;
  /** OpenClaw `timeoutSeconds` for the agent run. */
  readonly hookTimeoutSeconds: number;
  readonly readyStates: readonly string[];
  readonly readyLabels: readonly string[];
  readonly componentLabelPrefix: string;
  readonly agentLabelPrefix: string;
  readonly runChecks: boolean;
  readonly checkTimeoutSeconds: number;
  readonly checkMode: CheckMode;
  readonly checks: Readonly<Record<string, ComponentCheckSpec>>;
  /** Directory that relative check `cwd`s resolve against. */
  readonly checksRoot: string;
  readonly port: number;
  /** Address `/health` listens on. Anything but loopback needs tokens (`AUTH_TOKENS`). */
  readonly host: string;
  readonly statePath: string;
  readonly queue: string;
}

export const OPENCLAW_HOOK_TOKEN = envVar({
  name: 'OPENCLAW_HOOK_TOKEN',
  doc: 'Bearer token for OpenClaw /hooks/agent. Required: `infra-dispatcher serve` refuses to start without it.',
  parse: parse.string,
});

export const OPENCLAW_HOOK_URL = envVar({
  name: 'OPENCLAW_HOOK_URL',
  doc: 'OpenClaw agent hook URL. The default only resolves inside Docker; set it when running on a host.',
  default: 'http://host.docker.internal:18789/hooks/agent',
  parse: parse.url(['http', 'https']),
});

export const INFRA_READY_STATES = envVar({
  name: 'INFRA_READY_STATES',
  doc: 'Comma-separated Plane states (name, slug, key or state group) that count as ready.',
  default: 'unstarted',
  parse: parse.list,
});

export const INFRA_READY_LABELS = envVar({
  name: 'INFRA_READY_LABELS',
  doc: 'Comma-separated labels a ticket must ALL carry to be dispatched.',
  default: 'ready,automation:go',
  parse: parse.list,
});

export const INFRA_COMPONENT_LABEL_PREFIX = envVar({
  name: 'INFRA_COMPONENT_LABEL_PREFIX',
  doc: 'Label prefix naming the component a ticket targets (comp:bloodbank).',
  default: 'comp:',
  parse: parse.string,
});

export const INFRA_AGENT_LABEL_PREFIX = envVar({
  name: 'INFRA_AGENT_LABEL_PREFIX',
  doc: 'Label prefix naming the agent a ticket is for (agent:grolf).',
  default: 'agent:',
  parse: parse.string,
});

export const INFRA_RUN_CHECKS = envVar({
  name: 'INFRA_RUN_CHECKS',
  doc: 'Run the component check before dispatching.',
  default: 'true',
  parse: parse.bool,
});

export const INFRA_CHECK_TIMEOUT_SECONDS = envVar({
  name: 'INFRA_CHECK_TIMEOUT_SECONDS',
  doc: 'A component check running longer is killed (its whole process group) and reported as timed out.',
  default: '900',
  parse: parse.int(1, 86_400),
});

export const INFRA_CHECKS_CONFIG = envVar({
  name: 'INFRA_CHECKS_CONFIG',
  doc: 'JSON file mapping component → { command, cwd, passEnv?, env? }. A check gets only PATH, HOME, LANG, LC_ALL, TZ, the names in passEnv and the values in env. Unset: the built-in table.',
  parse: parse.string,
});

export const INFRA_CHECK_MODE = envVar({
  name: 'INFRA_CHECK_MODE',
  doc: 'block: a failed check stops the dispatch (skipped event); report: the result goes with the dispatch.',
  default: 'report',
  parse: parse.oneOf(['block', 'report'] as const),
});

export const INFRA_DISPATCHER_PORT = envVar({
  name: 'INFRA_DISPATCHER_PORT',
  doc: 'Port of the /health endpoint.',
  default: '8690',
  parse: parse.port,
});

export const INFRA_DISPATCHER_HOST = envVar({
  name: 'INFRA_DISPATCHER_HOST',
  doc: 'Address the /health endpoint listens on. Loopback by default; any other address needs AUTH_TOKENS or AUTH_TOKENS_FILE, or ALLOW_UNAUTHENTICATED=true.',
  default: '127.0.0.1',
  parse: parse.string,
});

export const INFRA_DISPATCH_STATE_PATH = envVar({
  name: 'INFRA_DISPATCH_STATE_PATH',
  doc: 'Deduplication state file (written atomically). Default: .data/infra-dispatch-state.json at the repository root.',
  parse: parse.string,
});

export const INFRA_DISPATCH_QUEUE = envVar({
  name: 'INFRA_DISPATCH_QUEUE',
  doc: 'Durable queue the dispatcher consumes webhook.plane.# from.',
  default: 'infra_dispatcher.plane',
  parse: parse.string,
});

export const DEFAULT_STATE_FILE = '.data/infra-dispatch-state.json';

/** Everything except the token, which has no sensible default. */
export const DEFAULT_DISPATCHER_CONFIG: Omit<DispatcherConfig, 'hookToken' | 'statePath' | 'checksRoot'> = {
  hookUrl: 'http://host.docker.internal:18789/hooks/agent',
  hookDeliver: false,
  hookTimeoutSeconds: 180,
  readyStates: ['unstarted'],
  readyLabels: ['ready', 'automation:go'],
  componentLabelPrefix: 'comp:',
  agentLabelPrefix: 'agent:',
  runChecks: true,
  checkTimeoutSeconds: 900,
  checkMode: 'report',
  checks: DEFAULT_COMPONENT_CHECKS,
  port: 8690,
  host: '127.0.0.1',
  queue: 'infra_dispatcher.plane',
};

export const defaultStatePath = (): string => resolve(projectRoot(), DEFAULT_STATE_FILE);

/** The parent of the repository: where sibling component checkouts live in the default table. */
export const defaultChecksRoot = (): string => dirname(projectRoot());

/**
 * Fills defaults and validates. `hookToken` may be empty here (tests and `/health`
 * can run without one); `serve` checks it with `assertServeable`.
 */
export function resolveDispatcherConfig(partial: Partial<DispatcherConfig> = {}): DispatcherConfig {
  let cfg: DispatcherConfig = {
    ...DEFAULT_DISPATCHER_CONFIG,
    hookToken: '',
    statePath: defaultStatePath(),
    checksRoot: defaultChecksRoot(),
    ...stripUndefined(partial),
  };
  cfg = { ...cfg, checks: parseChecks(cfg.checks) };
  if (cfg.readyStates.length === 0) {
    throw new AppError('CONFIG_INVALID', 'INFRA_READY_STATES must name at least one state');
  }
  if (!cfg.componentLabelPrefix.trim()) {
    throw new AppError('CONFIG_INVALID', 'INFRA_COMPONENT_LABEL_PREFIX must not be empty');
  }
  if (!cfg.agentLabelPrefix.trim()) {
    throw new AppError('CONFIG_INVALID', 'INFRA_AGENT_LABEL_PREFIX must not be empty');
  }
  if (!(cfg.checkTimeoutSeconds > 0)) {
    throw new AppError('CONFIG_INVALID', 'INFRA_CHECK_TIMEOUT_SECONDS must be positive');
  }
  try {
    new URL(cfg.hookUrl);
  } catch {
    throw new AppError('CONFIG_INVALID', `OPENCLAW_HOOK_URL is not a URL: '${cfg.hookUrl}'`);
  }
  return cfg;
}

/** `serve` must not start without a token: every dispatch would be refused by OpenClaw. */
export function assertServeable(cfg: DispatcherConfig): void {
  if (!cfg.hookToken.trim()) {
    throw new AppError(
      'CONFIG_INVALID',
      'OPENCLAW_HOOK_TOKEN is required: set it to the hooks.token configured in OpenClaw',
    );
  }
}

/** Reads every INFRA_* / OPENCLAW_* variable; unset variables fall back to the defaults. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): DispatcherConfig {
  const checksFile = readEnv(INFRA_CHECKS_CONFIG, env);
  return resolveDispatcherConfig({
    hookToken: readEnv(OPENCLAW_HOOK_TOKEN, env) ?? '',
    hookUrl: readEnv(OPENCLAW_HOOK_URL, env),
    readyStates: readEnv(INFRA_READY_STATES, env),
    readyLabels: readEnv(INFRA_READY_LABELS, env),
    componentLabelPrefix: readEnv(INFRA_COMPONENT_LABEL_PREFIX, env),
    agentLabelPrefix: readEnv(INFRA_AGENT_LABEL_PREFIX, env),
    runChecks: readEnv(INFRA_RUN_CHECKS, env),
    checkTimeoutSeconds: readEnv(INFRA_CHECK_TIMEOUT_SECONDS, env),
    checkMode: readEnv(INFRA_CHECK_MODE, env),
    port: readEnv(INFRA_DISPATCHER_PORT, env),
    host: readEnv(INFRA_DISPATCHER_HOST, env),
    statePath: readEnv(INFRA_DISPATCH_STATE_PATH, env),
    queue: readEnv(INFRA_DISPATCH_QUEUE, env),
    ...(checksFile === undefined ? {} : loadChecksFile(checksFile)),
  });
}

/**
 * Loads an INFRA_CHECKS_CONFIG file. Relative `cwd`s in it resolve against the file's
 * own directory, so the file can sit next to the checkouts it describes.
 */
export function loadChecksFile(path: string): Pick<DispatcherConfig, 'checks' | 'checksRoot'> {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new AppError('CONFIG_INVALID', `INFRA_CHECKS_CONFIG: cannot read '${path}'`, { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new AppError('CONFIG_INVALID', `INFRA_CHECKS_CONFIG: '${path}' is not valid JSON`, { cause });
  }
  return { checks: parseChecks(parsed, `INFRA_CHECKS_CONFIG (${path})`), checksRoot: dirname(resolve(path)) };
}

/**
 * Validates a component → check map; component names are matched case-insensitively.
 * The map is read with `Object.hasOwn` only (see `checkFor`), so a component may be
 * called anything, `__proto__` included, without reaching `Object.prototype`.
 */
export function parseChecks(value: unknown, where = 'checks'): Record<string, ComponentCheckSpec> {
  if (!isRecord(value)) throw new AppError('CONFIG_INVALID', `${where} must be a JSON object`);
  const out = new Map<string, ComponentCheckSpec>();
  for (const [name, spec] of Object.entries(value)) {
    const at = `${where}: component '${name}'`;
    const component = name.trim().toLowerCase();
    if (!component) throw new AppError('CONFIG_INVALID', `${where}: a component name is empty`);
    if (out.has(component)) {
      throw new AppError('CONFIG_INVALID', `${at} is configured twice (names ignore case)`);
    }
    out.set(component, parseCheckSpec(spec, at));
  }
  // Built from entries, so a component called `__proto__` is an own member, not the prototype.
  return Object.fromEntries(out);
}

function parseCheckSpec(spec: unknown, at: string): ComponentCheckSpec {
  if (!isRecord(spec)) throw new AppError('CONFIG_INVALID', `${at} must be an object`);
  const { command, cwd, passEnv, env } = spec;
  if (typeof command !== 'string' || !command.trim()) {
    throw new AppError('CONFIG_INVALID', `${at} needs a non-empty "command"`);
  }
  if (typeof cwd !== 'string' || !cwd.trim()) {
    throw new AppError('CONFIG_INVALID', `${at} needs a non-empty "cwd"`);
  }
  return {
    command,
    cwd,
    ...(passEnv === undefined ? {} : { passEnv: parsePassEnv(passEnv, at) }),
    ...(env === undefined ? {} : { env: parseEnvValues(env, at) }),
  };
}

function parsePassEnv(value: unknown, at: string): string[] {
  if (!Array.isArray(value) || value.some((n) => typeof n !== 'string' || !ENV_NAME.test(n))) {
    throw new AppError('CONFIG_INVALID', `${at}: "passEnv" must be a list of environment variable names`);
  }
  const names = value as string[];
  const secrets = names.filter(isDispatcherSecret);
  if (secrets.length > 0) {
    throw new AppError(
      'CONFIG_INVALID',
      `${at}: "passEnv" names ${secrets.join(', ')}, the dispatcher's own secret${secrets.length > 1 ? 's' : ''}; a check never gets ${secrets.length > 1 ? 'them' : 'it'} (it runs code agents edit and its output goes to the agent)`,
    );
  }
  return [...new Set(names)];
}

function parseEnvValues(value: unknown, at: string): Record<string, string> {
  if (!isRecord(value)) throw new AppError('CONFIG_INVALID', `${at}: "env" must map names to strings`);
  for (const [name, v] of Object.entries(value)) {
    if (!ENV_NAME.test(name)) {
      throw new AppError('CONFIG_INVALID', `${at}: "env" has '${name}', not an environment variable name`);
    }
    if (typeof v !== 'string') throw new AppError('CONFIG_INVALID', `${at}: "env" must map names to strings`);
  }
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

export function resolveCheckCwd(cfg: Pick<DispatcherConfig, 'checksRoot'>, spec: ComponentCheckSpec): string {
  return isAbsolute(spec.cwd) ? spec.cwd : resolve(cfg.checksRoot, spec.cwd);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
