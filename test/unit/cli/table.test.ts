import * as assert from 'node:assert/strict';
import { diffText } from '../../../src/cli/diff';
import { formatTable, safeText, styleFor } from '../../../src/cli/table';
import type { Entry } from '../../../src/core/store';

const entry = (id: number, over: Partial<Entry> = {}): Entry => ({
  id,
  uuid: `u${id}`,
  recorded: Date.UTC(2026, 10, 23, 12, 0, id),
  hash: 'h',
  prevHash: 'p',
  user: 'dev@example.com',
  action: 'EXECUTED',
  entityName: 'Bot',
  entityId: 'bots/hello-bot.ts',
  outcome: 8,
  outcomeDesc: 'TypeError: boom\n    at handler',
  ...over,
});

describe('CLI output', () => {
  it('fits the table to the terminal width', () => {
    const plain = styleFor(false);
    for (const width of [60, 80, 120, 200]) {
      const lines = formatTable([entry(1), entry(22, { user: 'a-very-long-user-name@example.com', entityId: 'x'.repeat(80) })], width, plain).split('\n');
      assert.equal(lines.length, 3);
      for (const l of lines) assert.ok(l.length <= Math.max(width, 80), `${l.length} <= ${width}: ${l}`);
    }
    const wide = formatTable([entry(1)], 200, plain);
    assert.match(wide, /Serious failure/);
    assert.match(wide, /TypeError: boom/);
    assert.doesNotMatch(wide, /at handler/, 'only the first line of the description');
  });

  it('names a bot by its name, else by its file name without the extension', () => {
    const plain = styleFor(false);
    const named = formatTable([entry(1, { entityId: 'bots/records/patient-crud.ts', bot: 'crud' })], 120, plain);
    assert.match(named.split('\n')[1], /\sEXECUTED Bot\/crud\s/);
    const unnamed = formatTable([entry(2, { entityId: 'bots/records/patient-crud.ts' })], 120, plain);
    assert.match(unnamed.split('\n')[1], /\sEXECUTED Bot\/patient-crud\s/);
    assert.doesNotMatch(unnamed, /records|\.ts/);
    const resource = formatTable([entry(3, { action: 'CREATED', entityName: 'Patient', entityId: 'abc', bot: 'crud', outcome: undefined, outcomeDesc: undefined })], 120, plain);
    assert.match(resource.split('\n')[1], /\sCREATED\s+Patient\/abc$/);
    // A Bot resource that a bot created is a resource like any other, not the bot that ran.
    const botResource = formatTable([entry(4, { action: 'CREATED', entityId: 'b0b', bot: 'crud', outcome: undefined, outcomeDesc: undefined })], 120, plain);
    assert.match(botResource.split('\n')[1], /\sCREATED\s+Bot\/b0b$/);
  });

  it('colours only on a terminal without NO_COLOR', () => {
    assert.equal(styleFor(true, {}).red('x'), '\x1b[31mx\x1b[39m');
    assert.equal(styleFor(true, { NO_COLOR: '' }).red('x'), 'x');
    assert.equal(styleFor(false, {}).red('x'), 'x');
    assert.equal(styleFor(true, { TERM: 'dumb' }).red('x'), 'x');
  });

  it('shows control characters from entries instead of sending them to the terminal', () => {
    assert.equal(safeText('a\x1b[2Jb\x07'), 'a\\x1b[2Jb\\x07');
    assert.equal(safeText('tab\tand\nnewline'), 'tab\tand\nnewline', 'tabs and newlines are layout, kept');
    // C1 controls (an 8-bit CSI or OSC) and bidirectional overrides and isolates (issue 18, defect 10).
    assert.equal(safeText('a\x9d0;t\x9cb'), 'a\\x9d0;t\\x9cb');
    assert.equal(safeText('x\u202etxt.exe\u2066y\u200f'), 'x\\u202etxt.exe\\u2066y\\u200f');
    assert.equal(safeText('Grüße 😀'), 'Grüße 😀', 'ordinary text is kept');
    const t = formatTable([entry(1, { user: 'evil\x1b]0;title\x07' })], 200, styleFor(false));
    assert.doesNotMatch(t, /\x1b|\x07/);
  });

  it('diffs before and after as plain text off a terminal, control characters shown', () => {
    const d = diffText({ name: 'Lovelace', n: 1 }, { name: 'LOVELACE', n: 1, x: 'evil\x1b[31m' }, false);
    assert.match(d, /Lovelace/);
    assert.match(d, /LOVELACE/);
    assert.doesNotMatch(d, /\x1b/);
    assert.match(d, /evil\\\\x1b\[31m|evil\\x1b\[31m/);
    assert.equal(diffText({ a: 1 }, { a: 1 }, false), '(no change)');
    assert.match(diffText(undefined, { created: true }, false), /created/);
  });
});
