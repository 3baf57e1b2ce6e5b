import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventTypeProblem, isValidEventType, isValidPattern, PatternSet, topicMatches } from '@33god/core';

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
