// Canonical JSON of snapshots: what the hash chain covers, so its text must not depend on the way it is made.
import * as assert from 'node:assert/strict';
import { canonicalJson, StoreError } from '../../../src/core/store';
import { rng } from '../../../bench/data';

/**
 * The reference: a copy of the value with every object's keys sorted, serialized. JavaScript
 * enumerates integer-like keys first, in numeric order, so the copy puts them there by itself.
 */
function reference(v: unknown): string {
  const copy = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(copy);
    if (x && typeof x === 'object') {
      const src = x as Record<string, unknown>;
      if (typeof src.toJSON === 'function') return copy((src as { toJSON(): unknown }).toJSON());
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(src).sort()) {
        if (src[k] === undefined) continue;
        Object.defineProperty(out, k, { value: copy(src[k]), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return x;
  };
  return JSON.stringify(copy(v));
}

/** Random JSON-like data: nested objects and arrays, integer-like, empty and non-ASCII keys, undefined values. */
function randomValue(r: () => number, depth: number, keyPool: string[]): unknown {
  const k = r();
  if (depth > 5 || k < 0.3) {
    const p = r();
    return p < 0.2 ? null : p < 0.4 ? Math.floor(r() * 1000) - 500 : p < 0.5 ? r() < 0.5 : p < 0.6 ? undefined : p < 0.65 ? -0 : `s${Math.floor(r() * 100)}\n"é😀`;
  }
  if (k < 0.5) return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth + 1, keyPool));
  const o: Record<string, unknown> = {};
  const n = Math.floor(r() * 7);
  for (let i = 0; i < n; i++) o[keyPool[Math.floor(r() * keyPool.length)]] = randomValue(r, depth + 1, keyPool);
  return o;
}

describe('canonical JSON of snapshots', () => {
  it('sorts the keys of 2,000 random values exactly as the reference does', () => {
    const keyPool = ['id', 'name', 'b', 'a', 'A', 'Z', '', ' ', '0', '1', '2', '10', '9', '01', '-1', '1.5', '4294967294', '4294967295', 'é', 'z😀', 'ä', 'step_2', 'step_10'];
    const r = rng(7);
    for (let i = 0; i < 2000; i++) {
      const v = randomValue(r, 0, keyPool);
      assert.equal(canonicalJson(v), reference(v), JSON.stringify(v));
    }
  });

  it('gives the reference text for values that are not plain data', () => {
    class Point {
      constructor(
        public y: number,
        public x: number,
      ) {}
    }
    const withToJSON = { b: 1, toJSON: () => ({ z: 1, a: [2, { d: 1, c: 2 }] }) };
    const nullProto = Object.assign(Object.create(null) as object, { b: 2, a: 1 });
    const manyKeys = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${(i * 37) % 100}`, { y: i, x: -i }]));
    const values: unknown[] = [
      JSON.parse('{"__proto__": {"b": 1, "a": 2}, "z": 0, "a": {"__proto__": 3}}'),
      { constructor: 'c', toString: 's', valueOf: 1, hasOwnProperty: 2, b: { constructor: 1 } },
      { when: new Date(Date.UTC(2026, 0, 2)), p: new Point(2, 1) },
      withToJSON,
      { toJSON: 'a string, not a method', b: 1 },
      nullProto,
      { outer: nullProto, list: [nullProto] },
      manyKeys,
      [new Map([['a', 1]]), new Set([1]), Buffer.from('hi'), new Uint8Array([1, 2])],
      'text',
      42,
      null,
      [],
      {},
    ];
    for (const v of values) assert.equal(canonicalJson(v), reference(v));
    assert.equal(canonicalJson(JSON.parse('{"__proto__": 1, "a": 2}')), '{"__proto__":1,"a":2}', 'an own "__proto__" key is kept');
  });

  it('ignores keys inherited from a polluted Object.prototype', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 'x';
    try {
      const v = { polluted: 1, a: { b: 2 } };
      assert.equal(canonicalJson(v), '{"a":{"b":2},"polluted":1}');
      assert.equal(canonicalJson({ a: { b: 2 } }), '{"a":{"b":2}}');
    } finally {
      delete proto.polluted;
    }
  });

  it('refuses values nested deeper than 512 levels, and cycles', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 600; i++) deep = { d: deep };
    assert.throws(() => canonicalJson(deep), (e: unknown) => e instanceof StoreError && e.code === 'INVALID_ENTRY' && /deeper than 512/.test(e.message));
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.throws(() => canonicalJson(cyclic), /deeper than 512/);
    let ok: unknown = 1;
    for (let i = 0; i < 500; i++) ok = [ok];
    assert.equal(canonicalJson(ok), JSON.stringify(ok));
  });
});
