import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '@33god/core';
import type { BrokerJournal, JournalContents } from '../../src/transport/embedded/journal.js';
import { createEmbeddedTransport, EmbeddedBroker } from '../../src/transport/index.js';

/** A journal on a disk that fills up: the first `room` message writes succeed, then every one fails. */
class FullDiskJournal implements BrokerJournal {
  readonly location = '/full/disk';
  failure: Error | undefined;
  #room: number;
  constructor(room: number) {
    this.#room = room;
  }
  read(): JournalContents {
    return { exchanges: [], queues: [], bindings: [], messagesOf: () => [] };
  }
  saveExchange(): void {}
  removeExchange(): void {}
  saveQueue(): void {}
  removeQueue(): void {}
  saveBinding(): void {}
  removeBinding(): void {}
  async putMessage(): Promise<void> {
    if (this.#room-- > 0) return;
    const err = new Error('ENOSPC: no space left on device');
    this.failure ??= err;
    throw err;
  }
  removeMessage(): void {}
  async markDelivered(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('durable embedded broker: a journal that cannot write', () => {
  it('refuses the publish with PUBLISH_NACKED (503, retryable) and reports the failure', async () => {
    const broker = new EmbeddedBroker({ journal: new FullDiskJournal(1) });
    const t = createEmbeddedTransport({ broker });
    await t.assertQueue('q', { durable: true });
    const publish = (body: string) =>
      t.publish({ exchange: '', routingKey: 'q', body: Buffer.from(body), properties: { persistent: true } });
    await publish('fits');
    assert.equal(t.journal?.error, null);
    await assert.rejects(publish('does not fit'), (err) => {
      assert.ok(isAppError(err), String(err));
      assert.equal(err.code, 'PUBLISH_NACKED');
      assert.equal(err.status, 503);
      assert.match(err.message, /could not write its journal: ENOSPC/);
      return true;
    });
    assert.deepEqual(t.journal, { location: '/full/disk', error: 'ENOSPC: no space left on device' });
    // A transient message is not journaled, so it is still taken (RabbitMQ's rule as well).
    await t.publish({ exchange: '', routingKey: 'q', body: Buffer.from('transient') });
    await t.close();
  });
});
