import type { ExchangeType, MessageProperties, QueueOptions } from '../transport.js';
import type { JournalCompaction } from './journal-compaction.js';

/** A durable exchange as the journal keeps it. */
export interface JournalExchange {
  readonly name: string;
  readonly type: ExchangeType;
  readonly internal: boolean;
  readonly alternateExchange: string | undefined;
}

export interface JournalBinding {
  readonly queue: string;
  readonly exchange: string;
  readonly pattern: string;
}

/** A message as the journal keeps it, one record per queue that holds a copy. */
export interface JournalMessage {
  readonly seq: number;
  readonly body: Buffer;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly expiresAt: number | undefined;
  /** Handed to a consumer (or read) before: comes back marked redelivered. */
  readonly delivered: boolean;
}

/** Everything a durable broker had confirmed, read back at start. */
export interface JournalContents {
  readonly exchanges: readonly JournalExchange[];
  readonly queues: readonly { readonly name: string; readonly options: QueueOptions }[];
  readonly bindings: readonly JournalBinding[];
  /** The messages of one queue in queue order (publish order). */
  messagesOf(queue: string): Iterable<JournalMessage>;
}

/**
 * Where a durable embedded broker writes what it must not lose. The broker calls it on every
 * change that a restart must see; writes issued in one turn of the event loop are committed
 * together (group commit). Only the promises it returns say a write is on disk: a publish is
 * confirmed, and a delivery handed over, once theirs resolved. Other writes (acks, topology)
 * are not awaited: one lost in a crash costs a redelivery or a re-declaration, never a message.
 */
export interface BrokerJournal {
  /** Where the journal lives (for messages and `/health`). */
  readonly location: string;
  read(): JournalContents;

  saveExchange(exchange: JournalExchange): void;
  /** Also forgets the exchange's bindings. */
  removeExchange(name: string): void;
  saveQueue(name: string, options: QueueOptions): void;
  /** Also forgets the queue's messages, delivery marks and bindings. */
  removeQueue(name: string): void;
  saveBinding(binding: JournalBinding): void;
  removeBinding(binding: JournalBinding): void;

  /** Resolves once the message is on disk; rejects when it could not be written. */
  putMessage(queue: string, message: Omit<JournalMessage, 'delivered'>): Promise<void>;
  /** The message left the queue for good (acked, dead-lettered, dropped). */
  removeMessage(queue: string, seq: number): void;
  /** Resolves once the mark is on disk, so that a crash after the hand-over redelivers it marked. */
  markDelivered(queue: string, seq: number): Promise<void>;

  /** Set when opening compacted the journal file (or failed to, leaving it as it was), to be logged. */
  readonly compaction?: JournalCompaction;
  /** The first write that failed since the journal opened, if any (for `/health`). */
  readonly failure: Error | undefined;
  /** Waits for every write issued so far, then closes. */
  close(): Promise<void>;
}
