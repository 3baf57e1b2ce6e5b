import { AppError, isAppError } from '@33god/core';
import { type BrokerAddress, defaultManagementUrl, parseAmqpUrl, redactUrl } from './url.js';

/**
 * Parses a broker URL, or a comma-separated list of them (the nodes of one cluster), into
 * addresses. A single URL is checked exactly as before (`parseAmqpUrl`); in a list, an empty
 * entry or a bad one is refused with INVALID_BROKER_URL naming the entry, redacted. A comma
 * inside a password must be written `%2C`.
 */
export function parseBrokerUrls(raw: string, heartbeatSeconds: number): BrokerAddress[] {
  const entries = raw.split(',');
  if (entries.length === 1) return [parseAmqpUrl(raw, heartbeatSeconds)];
  return entries.map((e, i) => {
    const entry = e.trim();
    const which = `entry ${i + 1} of ${entries.length} in the broker URL list '${redactUrl(raw)}'`;
    if (entry === '') throw new AppError('INVALID_BROKER_URL', `${which} is empty`);
    try {
      return parseAmqpUrl(entry, heartbeatSeconds);
    } catch (err) {
      if (!isAppError(err)) throw err;
      throw new AppError('INVALID_BROKER_URL', `${which}: ${err.message}`);
    }
  });
}

/**
 * The nodes a transport may connect to, and which one it is on. Connection attempts go round
 * robin: after a loss or a failed attempt the next node in the list is tried.
 */
export class NodeList {
  readonly nodes: readonly BrokerAddress[];
  readonly #managementUrls: readonly string[];
  #index = 0;

  /** `managementUrl`: one for every node, or a list with one per node in the same order. */
  constructor(url: string, heartbeatSeconds: number, managementUrl?: string) {
    this.nodes = parseBrokerUrls(url, heartbeatSeconds);
    this.#managementUrls = managementUrls(managementUrl, this.nodes);
  }

  get current(): BrokerAddress {
    return this.nodes[this.#index]!;
  }

  /** The management API of the current node. */
  get managementUrl(): string {
    return this.#managementUrls[this.#index]!;
  }

  /** Moves to the next node (the same one when there is only one) and returns it. */
  advance(): BrokerAddress {
    this.#index = (this.#index + 1) % this.nodes.length;
    return this.current;
  }

  /** Every node, redacted: for messages. */
  get display(): string {
    return this.nodes.map((n) => n.display).join(',');
  }
}

function managementUrls(option: string | undefined, nodes: readonly BrokerAddress[]): string[] {
  const trim = (u: string) => u.trim().replace(/\/+$/, '');
  if (option === undefined) return nodes.map((n) => defaultManagementUrl(n));
  const list = option.split(',').map(trim);
  if (list.length === 1) return nodes.map(() => list[0]!);
  if (list.length !== nodes.length || list.some((u) => u === '')) {
    throw new AppError(
      'CONFIG_INVALID',
      `the management URL list '${redactUrl(option)}' must have one entry per broker node (${nodes.length})`,
    );
  }
  return list;
}
