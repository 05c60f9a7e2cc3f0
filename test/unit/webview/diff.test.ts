// The diff model the page renders: created and deleted objects field by field, updates by what
// changed, array items matched by id, long text by line.
import * as assert from 'node:assert/strict';
import { diffValues, differ, reviewDelta } from '../../../src/core/diff';

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

  it('shows an item without an id that changed as its change, not a remove and an add', () => {
    const before = { name: [{ given: ['Ada'], family: 'Lovelace' }] };
    const after = { name: [{ given: ['Ada', 'Augusta'], family: 'Lovelace' }] };
    assert.deepEqual(diffValues(before, after), { name: { _t: 'a', 0: { given: { _t: 'a', 1: ['Augusta'] } } } });
  });

  it('pairs changed items between the same unchanged neighbours, in order, and keeps the delta patchable', () => {
    const cases: [unknown, unknown][] = [
      [{ a: [{ x: 1 }, { y: 1 }, { z: 1 }] }, { a: [{ x: 1 }, { y: 2 }, { z: 1 }] }],
      [{ a: [{ x: 1 }, { y: 1 }] }, { a: [{ n: 0 }, { x: 1 }, { y: 2 }, { w: 3 }] }],
      [{ a: [{ y: 1 }, 'k', { z: 1 }, { q: 1 }] }, { a: ['k', { z: 2 }] }],
      [{ a: [{ id: 'p', v: 1 }, { v: [{ m: 1 }] }] }, { a: [{ id: 'p', v: 2 }, { v: [{ m: 2 }] }] }],
      [{ a: [[1, 2], { t: 1 }] }, { a: [{ t: 2 }, [1, 3]] }],
      [[{ s: 'a' }, { s: 'b' }, { s: 'c' }], [{ s: 'c' }, { s: 'a2' }]],
    ];
    for (const [before, after] of cases) {
      const delta = diffValues(before, after);
      assert.ok(delta, JSON.stringify(before));
      assert.deepEqual(differ.patch(structuredClone(before), structuredClone(delta)), after, JSON.stringify({ before, after, delta }));
    }
    const middle = diffValues(cases[0][0], cases[0][1]) as Record<string, Record<string, unknown>>;
    assert.deepEqual(middle.a, { _t: 'a', 1: { y: [1, 2] } });
  });

  it('keeps items with different ids a remove and an add', () => {
    const delta = diffValues({ a: [{ id: 'p', v: 1 }] }, { a: [{ id: 'q', v: 1 }] }) as Record<string, Record<string, unknown>>;
    assert.deepEqual(delta.a, { _t: 'a', _0: [{ id: 'p', v: 1 }, 0, 0], 0: [{ id: 'q', v: 1 }] });
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
