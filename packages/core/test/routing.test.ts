import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  eventTypeProblem,
  isValidEventType,
  isValidPattern,
  MAX_PATTERN_WILDCARDS,
  MAX_PATTERN_WORDS,
  PatternSet,
  patternProblem,
  topicMatches,
  topicMatchSteps,
} from '@33god/core';

describe('event types', () => {
  it('accepts lowercase dot-separated types, including the original two-word ones', () => {
    for (const t of [
      'agent.task.completed',
      'worktree.created',
      'theboard.meeting.round_completed',
      'agent.error',
    ]) {
      assert.equal(isValidEventType(t), true, t);
    }
  });
  it('rejects what the naming rules forbid, with a reason', () => {
    assert.match(eventTypeProblem('WorktreeCreated') ?? '', /lowercase/);
    assert.match(eventTypeProblem('worktree') ?? '', /two dot-separated words/);
    assert.match(eventTypeProblem('a..b') ?? '', /single dots/);
    assert.match(eventTypeProblem('a.b.') ?? '', /single dots/);
    assert.match(eventTypeProblem('agent.*.x') ?? '', /single dots/);
    assert.match(eventTypeProblem(`a.${'x'.repeat(300)}`) ?? '', /at most 255/);
    assert.equal(eventTypeProblem(42), 'must be a string');
  });
});

describe('topic patterns', () => {
  const cases: [string, string, boolean][] = [
    ['#', 'a.b.c', true],
    ['a.#', 'a', true],
    ['a.#', 'a.b.c', true],
    ['a.#.c', 'a.c', true],
    ['a.#.c', 'a.x.y.c', true],
    ['a.#.c', 'a.x.y.d', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a.b.c', false],
    ['a.*', 'a', false],
    ['*.b.*', 'a.b.c', true],
    ['agent.*.message.*', 'agent.x.message.received', true],
    ['agent.*.message.*', 'agent.message.received', false],
    ['#.completed', 'agent.task.completed', true],
    ['#.#', 'a', true],
    ['webhook.plane.#', 'webhook.plane.issue.created', true],
    ['webhook.plane.#', 'webhook.github.push', false],
    ['exact.key', 'exact.key', true],
    ['exact.key', 'exact.keys', false],
  ];
  for (const [pattern, key, want] of cases) {
    it(`${pattern} ${want ? 'matches' : 'does not match'} ${key}`, () => {
      assert.equal(topicMatches(pattern, key), want);
    });
  }
  it('validates patterns', () => {
    assert.equal(isValidPattern('a.*.#'), true);
    assert.equal(isValidPattern('a.**'), false);
    assert.equal(isValidPattern(''), false);
    assert.equal(isValidPattern('A.b'), false);
  });
  it('PatternSet matches any of its patterns', () => {
    const set = new PatternSet(['tool.mutation.#', 'llm.response']);
    assert.equal(set.matches('tool.mutation.write'), true);
    assert.equal(set.matches('llm.response'), true);
    assert.equal(set.matches('llm.prompt'), false);
    assert.equal(set.matches('tool.mutation.write'), true);
  });
});

/** The definition, word by word, with backtracking: slow on purpose, and obviously right. */
function reference(p: readonly string[], k: readonly string[]): boolean {
  if (p.length === 0) return k.length === 0;
  const [head, ...rest] = p;
  if (head === '#') return reference(rest, k) || (k.length > 0 && reference(p, k.slice(1)));
  return k.length > 0 && (head === '*' || head === k[0]) && reference(rest, k.slice(1));
}

/** Every dot-joined sequence of 1..max words from `alphabet`. */
function sequences(alphabet: readonly string[], max: number): string[] {
  const out: string[] = [];
  let level = [''];
  for (let n = 1; n <= max; n++) {
    level = level.flatMap((prefix) => alphabet.map((w) => (prefix === '' ? w : `${prefix}.${w}`)));
    out.push(...level);
  }
  return out;
}

/** Words of a pattern once runs of wildcards are collapsed (k `*` and at most one `#`). */
function collapsedWords(pattern: string): number {
  let n = 0;
  let hashInRun = false;
  for (const w of pattern.split('.')) {
    if (w === '#') {
      if (!hashInRun) n++;
      hashInRun = true;
    } else {
      n++;
      if (w !== '*') hashInRun = false;
    }
  }
  return n;
}

describe('topic matcher', () => {
  it('agrees with the reference on every pattern of up to 4 words of a, b, *, # and key of up to 4 words of a, b', () => {
    const patterns = sequences(['a', 'b', '*', '#'], 4);
    const keys = sequences(['a', 'b'], 4);
    assert.equal(patterns.length, 340);
    assert.equal(keys.length, 30);
    for (const p of patterns) {
      for (const k of keys) {
        assert.equal(topicMatches(p, k), reference(p.split('.'), k.split('.')), `${p} against ${k}`);
      }
    }
  });

  it('stays within (pattern words + 1) × (key words + 1) steps on every pattern of the exhaustive set', () => {
    for (const p of sequences(['a', 'b', '*', '#'], 4)) {
      for (const k of sequences(['a', 'b'], 4)) {
        const bound = (collapsedWords(p) + 1) * (k.split('.').length + 1);
        assert.ok(topicMatchSteps(p, k) <= bound, `${p} against ${k}`);
      }
    }
  });

  it('collapses a run of 126 # into one: a handful of steps, not an exponential search', () => {
    const pattern = `${'#.'.repeat(126)}zz`;
    const key = 'aa.bb.cc.dd';
    assert.equal(topicMatches(pattern, key), false);
    assert.equal(topicMatches(pattern, 'aa.bb.cc.zz'), true);
    // two pattern words (# and zz) against four key words
    assert.ok(topicMatchSteps(pattern, key) <= 3 * 5, String(topicMatchSteps(pattern, key)));
    assert.ok(topicMatchSteps(pattern, 'aa.bb.cc.zz') <= 3 * 5);
  });

  it('keeps alternating # and words linear: #.a.#.a.… against a long key of a', () => {
    for (const n of [4, 16, 60]) {
      const pattern = `${'#.a.'.repeat(n)}#.b`;
      const key = Array.from({ length: 100 }, () => 'a').join('.');
      assert.equal(topicMatches(pattern, key), false);
      assert.equal(topicMatches(pattern, `${key}.b`), true);
      const words = 2 * n + 2;
      const steps = topicMatchSteps(pattern, key);
      assert.ok(steps <= (words + 1) * 101, `${n}: ${steps} steps`);
    }
  });

  it('treats the orders of a wildcard run alike: #.* and *.# and #.*.# need at least one word', () => {
    for (const p of ['#.*', '*.#', '#.*.#', '#.#.*.#.#']) {
      assert.equal(topicMatches(`x.${p}`, 'x'), false, p);
      assert.equal(topicMatches(`x.${p}`, 'x.a'), true, p);
      assert.equal(topicMatches(`x.${p}`, 'x.a.b.c'), true, p);
      assert.equal(topicMatches(`x.${p}.y`, 'x.y'), false, p);
      assert.equal(topicMatches(`x.${p}.y`, 'x.a.y'), true, p);
    }
  });

  it('keeps the fast paths: # and a pattern without wildcards take no steps', () => {
    assert.equal(topicMatchSteps('#', 'a.b.c'), 0);
    assert.equal(topicMatchSteps('a.b.c', 'a.b.c'), 0);
  });

  it('gives the same answers when many patterns are matched in turn', () => {
    // the compiled-pattern cache is bounded; matching past its size must not change answers
    for (let i = 0; i < 3000; i++) {
      assert.equal(topicMatches(`w${i}.*.#`, `w${i}.x`), true);
      assert.equal(topicMatches(`w${i}.*.#`, `w${i + 1}.x`), false);
    }
  });
});

describe('pattern problems', () => {
  it('accepts patterns within the limits', () => {
    assert.equal(patternProblem('agent.*.message.#'), null);
    assert.equal(patternProblem('#'), null);
    assert.equal(patternProblem(Array.from({ length: MAX_PATTERN_WORDS }, () => 'a').join('.')), null);
    assert.equal(patternProblem(Array.from({ length: MAX_PATTERN_WILDCARDS }, () => '*').join('.')), null);
  });
  it('says why a pattern is refused', () => {
    assert.equal(patternProblem(7), 'must be a string');
    assert.equal(patternProblem(''), 'must not be empty');
    assert.match(patternProblem(`a.${'b'.repeat(300)}`) ?? '', /at most 255 characters/);
    assert.match(
      patternProblem(Array.from({ length: MAX_PATTERN_WORDS + 1 }, () => 'a').join('.')) ?? '',
      new RegExp(`at most ${MAX_PATTERN_WORDS} dot-separated words`),
    );
    assert.match(
      patternProblem(Array.from({ length: MAX_PATTERN_WILDCARDS + 1 }, () => '#').join('.')) ?? '',
      new RegExp(`at most ${MAX_PATTERN_WILDCARDS} wildcards`),
    );
    assert.match(patternProblem(`${'#.'.repeat(126)}zz`) ?? '', /at most/);
    for (const bad of ['a.**', 'A.b', 'a..b', 'a.b.', 'a.#x', 'a b']) {
      assert.match(patternProblem(bad) ?? '', /words of \[a-z0-9_-\]/, bad);
      assert.equal(isValidPattern(bad), false, bad);
    }
  });
});
