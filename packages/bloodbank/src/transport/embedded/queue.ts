import type { MessageProperties, QueueOptions } from '../transport.js';
import { Deque } from './deque.js';

/** One copy of a message in one queue. Body and properties are shared, never mutated. */
export interface StoredMessage {
  /** Broker-wide publish order; the key of the message in the journal. */
  readonly seq: number;
  readonly body: Buffer;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  redelivered: boolean;
  /** Epoch milliseconds after which the message is dead ('expired'), or undefined. */
  readonly expiresAt: number | undefined;
  /** Written to the journal (a persistent message in a durable queue of a durable broker). */
  readonly journaled: boolean;
}

/** A consumer as the broker sees it: a credit window and a way to hand a message over. */
export interface ConsumerSlot {
  readonly tag: string;
  readonly prefetch: number;
  unacked: number;
  active: boolean;
  /** Called from the broker's dispatch turn, never from inside `publish`. */
  deliver(queue: EmbeddedQueue, message: StoredMessage): void;
}

export class EmbeddedQueue {
  readonly name: string;
  readonly options: QueueOptions;
  /** Kept in the journal across restarts: durable, not exclusive, on a durable broker. */
  readonly journaled: boolean;
  readonly messages = new Deque<StoredMessage>();
  /** Body bytes of the ready messages; kept with `messages` by the broker. */
  bytes = 0;
  readonly consumers: ConsumerSlot[] = [];
  /** Identity of the transport that owns an exclusive queue. */
  readonly owner: object | undefined;
  deleted = false;
  hadConsumer = false;
  nextConsumer = 0;
  pumpScheduled = false;
  /** A durable broker's batch of deliveries waiting for their marks to be on disk. */
  handover: Promise<void> | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  expiryAt = Number.POSITIVE_INFINITY;

  constructor(name: string, options: QueueOptions, owner: object | undefined, journaled: boolean) {
    this.name = name;
    this.options = options;
    this.owner = owner;
    this.journaled = journaled;
  }
}

export function normaliseQueueOptions(o: QueueOptions): QueueOptions {
  const out: QueueOptions = {
    durable: o.durable ?? true,
    queueType: o.queueType ?? 'classic',
    autoDelete: o.autoDelete ?? false,
    exclusive: o.exclusive ?? false,
  };
  if (o.messageTtlMs !== undefined) out.messageTtlMs = o.messageTtlMs;
  if (o.deadLetterExchange !== undefined) out.deadLetterExchange = o.deadLetterExchange;
  if (o.deadLetterRoutingKey !== undefined) out.deadLetterRoutingKey = o.deadLetterRoutingKey;
  if (o.maxLength !== undefined) out.maxLength = o.maxLength;
  return out;
}

export function sameQueueOptions(a: QueueOptions, b: QueueOptions): string | null {
  const keys: (keyof QueueOptions)[] = [
    'durable',
    'queueType',
    'autoDelete',
    'exclusive',
    'messageTtlMs',
    'deadLetterExchange',
    'deadLetterRoutingKey',
    'maxLength',
  ];
  for (const k of keys) {
    if (a[k] !== b[k]) return `${k} is ${String(a[k])}, the declaration asks for ${String(b[k])}`;
  }
  return null;
}
