import type { ComponentCheckSpec, DispatcherConfig } from '../config.js';
import { resolveCheckCwd } from '../config.js';
import { type CheckResult, runCheck } from './run-check.js';

/** Why no check ran: checks are off, the ticket names no component, or none is configured for it. */
export interface CheckNotRun {
  readonly status: 'disabled' | 'no_component' | 'not_configured';
  readonly component?: string;
  readonly reason: string;
}

export type CheckOutcome = CheckResult | CheckNotRun;

export type ChecksConfig = Pick<
  DispatcherConfig,
  'runChecks' | 'checkTimeoutSeconds' | 'checks' | 'checksRoot'
> &
  // The token is redacted from check output even when it did not come from the environment.
  Partial<Pick<DispatcherConfig, 'hookToken'>>;

export interface ComponentCheckOptions {
  /** Overrides `checkTimeoutSeconds` (tests use fractions of a second). */
  readonly timeoutMs?: number;
  readonly killGraceMs?: number;
  readonly tailBytes?: number;
  readonly signal?: AbortSignal;
}

export async function runComponentCheck(
  cfg: ChecksConfig,
  component: string | undefined,
  opts: ComponentCheckOptions = {},
): Promise<CheckOutcome> {
  if (!cfg.runChecks)
    return { status: 'disabled', reason: 'component checks are disabled (INFRA_RUN_CHECKS)' };
  if (!component) return { status: 'no_component', reason: 'the ticket has no component label' };
  const spec = checkFor(cfg.checks, component);
  if (!spec) {
    return {
      status: 'not_configured',
      component,
      reason: `no check is configured for component '${component}'`,
    };
  }
  return runCheck({
    component,
    command: spec.command,
    cwd: resolveCheckCwd(cfg, spec),
    ...(spec.passEnv ? { passEnv: spec.passEnv } : {}),
    ...(spec.env ? { env: spec.env } : {}),
    ...(cfg.hookToken ? { secrets: [{ name: 'OPENCLAW_HOOK_TOKEN', value: cfg.hookToken }] } : {}),
    timeoutMs: opts.timeoutMs ?? cfg.checkTimeoutSeconds * 1000,
    ...(opts.killGraceMs === undefined ? {} : { killGraceMs: opts.killGraceMs }),
    ...(opts.tailBytes === undefined ? {} : { tailBytes: opts.tailBytes }),
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  });
}

/**
 * The check configured for a component named by a ticket label. Own properties only: a
 * label `comp:constructor` or `comp:__proto__` must find nothing, not `Object.prototype`'s.
 */
export function checkFor(checks: ChecksConfig['checks'], component: string): ComponentCheckSpec | undefined {
  const key = component.trim().toLowerCase();
  return Object.hasOwn(checks, key) ? checks[key] : undefined;
}

/** A check that ran and did not pass. Not running a check (nothing configured) is not a failure. */
export function checkFailed(outcome: CheckOutcome | undefined): outcome is CheckResult {
  return (
    outcome !== undefined &&
    (outcome.status === 'failed' || outcome.status === 'timeout' || outcome.status === 'error')
  );
}

export function describeCheck(outcome: CheckOutcome): string {
  switch (outcome.status) {
    case 'passed':
      return `check for '${outcome.component}' passed in ${outcome.duration_ms} ms`;
    case 'failed':
      return `check for '${outcome.component}' failed with exit code ${outcome.exit_code ?? 'none'}${outcome.signal ? ` (signal ${outcome.signal})` : ''}`;
    case 'timeout':
      return `check for '${outcome.component}' ${outcome.reason ?? 'timed out'}`;
    case 'error':
      return `check for '${outcome.component}' could not run: ${outcome.reason ?? 'unknown error'}`;
    default:
      return outcome.reason;
  }
}
