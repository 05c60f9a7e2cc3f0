// The diff model the page renders: created and deleted objects field by field, updates by what
// changed, array items matched by id, long text by line.
import * as assert from 'node:assert/strict';
import { reviewDelta } from '../../../src/core/diff';

describe('audit log page: diffs', () => {
  it('shows a created object field by field, all added', () => {
    const { delta } = reviewDelta(undefined, { id: 'p1', active: true });
    assert.deepEqual(delta, { id: ['p1'], active: [true] });
  });

  it('shows a deleted object field by field, all removed', () => {
    const { delta, left } = reviewDelta({ id: 'p1', active: true }, undefined);
    assert.deepEqual(delta, { id: ['p1', 0, 0], active: [true, 0, 0] });
    assert.deepEqual(left, { id: 'p1', active: true });
  });

  it('shows an update as old and new values', () => {
    const { delta } = reviewDelta({ id: 'p1', active: true, n: 1 }, { id: 'p1', active: false, n: 1 });
    assert.deepEqual(delta, { active: [true, false] });
  });

  it('matches array items by id, so a changed item is a change, not a remove and an add', () => {
    const before = { entry: [{ id: 'a', v: 1 }, { id: 'b', v: 1 }] };
    const after = { entry: [{ id: 'a', v: 1 }, { id: 'b', v: 2 }] };
    const { delta } = reviewDelta(before, after) as { delta: Record<string, Record<string, unknown>> };
    const changed = Object.values(delta.entry).filter((d) => !Array.isArray(d) && typeof d === 'object');
    assert.deepEqual(changed, [{ v: [1, 2] }]);
    assert.equal(Object.keys(delta.entry).filter((k) => k.startsWith('_') && k !== '_t').length, 0, 'nothing removed');
  });

  it('diffs long text (a bot’s source) by line', () => {
    const src = (x: string) => `export async function handler() {\n  console.log('${x}');\n  return true;\n}\n`.repeat(4);
    const { delta } = reviewDelta(src('one'), src('two'));
    assert.ok(Array.isArray(delta) && delta[2] === 2, 'a text diff');
  });

  it('has nothing to show when nothing changed', () => {
    assert.equal(reviewDelta({ a: 1 }, { a: 1 }).delta, undefined);
    assert.equal(reviewDelta(undefined, undefined).delta, undefined);
  });
});
