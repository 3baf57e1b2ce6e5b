import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PageWindow } from '../src/internal.js';

/** A stored table of positions and a reader that answers like the page query. */
function table(positions: number[]) {
  const queries: { after: bigint; upTo: bigint }[] = [];
  const read = async (after: string, upTo: string) => {
    queries.push({ after: BigInt(after), upTo: BigInt(upTo) });
    return positions
      .filter((p) => p > Number(after) && p <= Number(upTo))
      .slice(0, 500)
      .map((p) => ({ position: String(p) }));
  };
  return { read, queries };
}

async function all(w: PageWindow<{ position: string }>): Promise<number[]> {
  const out: number[] = [];
  for (let page = await w.next(); page !== null; page = await w.next()) {
    assert.ok(page.length > 0, 'no empty pages');
    out.push(...page.map((r) => Number(r.position)));
  }
  return out;
}

describe('replay pages (bounded windows of positions)', () => {
  test('a dense table: every row once, in order, and no query spans much more than a page', async () => {
    const positions = Array.from({ length: 5_321 }, (_, i) => i + 1);
    const t = table(positions);
    assert.deepEqual(await all(new PageWindow('5321', t.read)), positions);
    assert.ok(
      t.queries.every((q) => q.upTo - q.after <= 1000n),
      'windows stay near the page size',
    );
  });

  test('a sparse, selective filter: the window widens, so few queries find the few rows', async () => {
    const positions = [7, 90_000, 90_001, 400_000, 1_999_999];
    const t = table(positions);
    assert.deepEqual(await all(new PageWindow('2000000', t.read)), positions);
    assert.ok(t.queries.length < 40, `${t.queries.length} queries`);
  });

  test('rows beyond the head are never read, and an empty range yields nothing', async () => {
    const t = table([1, 2, 3, 10, 11]);
    assert.deepEqual(await all(new PageWindow('10', t.read)), [1, 2, 3, 10]);
    assert.ok(t.queries.every((q) => q.upTo <= 10n));
    assert.equal(await new PageWindow('0', t.read).next(), null);
  });

  test('a dense run after a sparse stretch narrows the window again', async () => {
    const positions = [5, ...Array.from({ length: 3_000 }, (_, i) => 200_000 + i)];
    const t = table(positions);
    assert.deepEqual(await all(new PageWindow('300000', t.read)), positions);
    const last = t.queries.at(-2)!;
    assert.ok(last.upTo - last.after <= 200_000n);
  });
});
