import * as assert from 'node:assert/strict';
import {
  DEFAULT_BOT_GLOB,
  botNameFromPath,
  findHandlerLine,
  folderOf,
  globToRegExp,
  inspectBotFile,
  isBotFile,
} from '../../../src/core/bots/botFiles';

const enc = (s: string) => new TextEncoder().encode(s);

describe('botFiles', () => {
  describe('isBotFile with the default glob', () => {
    const yes = [
      'bots/hello.ts',
      'bots/hello.js',
      'bots/a.mjs',
      'bots/a.cjs',
      'bots/a.mts',
      'bots/a.cts',
      'bots/records/deep/crud.ts',
      'packages/x/bots/y.ts',
      './bots/hello.ts',
      'bots\\win\\path.ts',
    ];
    const no = [
      'bots/hello.test.ts',
      'bots/hello.spec.js',
      'bots/types.d.ts',
      'bots/readme.md',
      'bots/data.json',
      'src/hello.ts',
      'node_modules/pkg/bots/x.js',
      'bots/node_modules/x.js',
      '.git/bots/x.js',
      'robots/x.ts',
      'bots.ts',
    ];
    for (const p of yes) it(`accepts ${p}`, () => assert.equal(isBotFile(p), true));
    for (const p of no) it(`refuses ${p}`, () => assert.equal(isBotFile(p), false));
  });

  it('honours a custom glob', () => {
    assert.equal(isBotFile('automations/a.ts', 'automations/*.ts'), true);
    assert.equal(isBotFile('automations/deep/a.ts', 'automations/*.ts'), false);
    assert.equal(isBotFile('bots/a.ts', 'automations/*.ts'), false);
    assert.equal(isBotFile('x/a1.js', '**/a?.js'), true);
  });

  it('turns globs into anchored expressions, and refuses unbalanced braces', () => {
    assert.equal(globToRegExp('**/bots/*.ts').test('bots/a.ts'), true);
    assert.equal(globToRegExp('**/bots/*.ts').test('x/bots/a.ts'), true);
    assert.equal(globToRegExp('**/bots/*.ts').test('x/bots/a.tsx'), false);
    assert.equal(globToRegExp('a.(b)+').test('a.(b)+'), true, 'regex characters are literal');
    assert.throws(() => globToRegExp('bots/*.{ts,js'), /Unbalanced/);
    assert.equal(DEFAULT_BOT_GLOB, '**/bots/**/*.{ts,mts,cts,js,mjs,cjs}');
  });

  it('names bots after their file and folder', () => {
    assert.equal(botNameFromPath('bots/records/patient-crud.ts'), 'patient-crud');
    assert.equal(botNameFromPath('bots/quitter.js'), 'quitter');
    assert.equal(botNameFromPath('bots/x.mjs'), 'x');
    assert.equal(botNameFromPath('bots/noext'), 'noext');
    assert.equal(folderOf('bots/records/patient-crud.ts'), 'bots/records');
    assert.equal(folderOf('top.ts'), '');
  });

  describe('inspectBotFile', () => {
    it('finds the handler export in its common forms', () => {
      assert.equal(findHandlerLine('import x from "y";\n\nexport async function handler(m, e) {}'), 2);
      assert.equal(findHandlerLine('export function handler() {}'), 0);
      assert.equal(findHandlerLine('export const handler = async () => 1;'), 0);
      assert.equal(findHandlerLine('// c\nexports.handler = async function () {}'), 1);
      assert.equal(findHandlerLine('module.exports.handler = () => 1'), 0);
      assert.equal(findHandlerLine('async function handler() {}\nexport { handler };'), 1);
      assert.equal(findHandlerLine('function notHandler() {}\nexport { other };'), undefined);
      assert.equal(findHandlerLine('export function handlerish() {}'), undefined);
    });

    it('classifies source, empty and binary files', () => {
      assert.deepEqual(inspectBotFile(enc('export async function handler() {}')), { kind: 'source', handlerLine: 0 });
      assert.deepEqual(inspectBotFile(enc('const x = 1;')), { kind: 'source' });
      assert.deepEqual(inspectBotFile(new Uint8Array()), { kind: 'empty' });
      assert.deepEqual(inspectBotFile(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1])), { kind: 'binary' });
      assert.deepEqual(inspectBotFile(new Uint8Array([0x61, 0xff, 0xfe, 0x62])), { kind: 'binary' }, 'invalid UTF-8');
      assert.deepEqual(inspectBotFile(enc('// café ☕\nexport const handler = 1')), { kind: 'source', handlerLine: 1 });
    });
  });
});
