// Telling bots from shared modules: the static `handler` export check, and discovery that lists
// bots but not the helpers they import (on a real temp workspace).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspectBotFile, isSharedModule } from '../../../src/core/bots/botFiles';
import { discoverBots } from '../../../src/core/bots/discovery';
import { exportsHandler, findHandlerLine, maskNonCode } from '../../../src/core/bots/handlerExport';
import { makeWorkspace } from '../runner/helpers';


describe('bots: the handler export check', () => {
  describe('finds each form bots use, at its line', () => {
    const forms: [string, string, number][] = [
      ['export async function handler', "import { x } from './x';\n\nexport async function handler(medplum, event) {\n  return x;\n}\n", 2],
      ['export function handler', 'export function handler(medplum: MedplumClient, event: BotEvent): string {\n  return "";\n}', 0],
      ['export async function* handler', 'export async function* handler() {}', 0],
      ['export function handler<T>', 'export function handler<T>(m: unknown, e: BotEvent<T>) {}', 0],
      ['export const handler =', 'const a = 1;\nexport const handler = async (medplum, event) => a;', 1],
      ['export const handler: Type =', 'export const handler: BotHandler = async () => 1;', 0],
      ['export let handler', 'export let handler = () => 1;', 0],
      ['export var handler', 'export var handler = function () {};', 0],
      ['export { handler }', 'async function handler() {}\nexport { handler };', 1],
      ['export { a, handler, b } over lines', 'function handler() {}\nexport {\n  helper,\n  handler,\n  other,\n};\n', 1],
      ['export { x as handler }', 'async function run() {}\nexport { run as handler };', 1],
      ['export { x as "handler" }', 'function run() {}\nexport { run as "handler" };', 1],
      ['export { handler } from', "export { handler } from './impl';", 0],
      ['export { default as handler } from', "export { default as handler } from './impl';", 0],
      ['exports.handler =', '// c\nexports.handler = async function (medplum, event) {};', 1],
      ['module.exports.handler =', 'module.exports.handler = () => 1', 0],
      ["exports['handler'] =", "exports['handler'] = () => 1;", 0],
      ['module.exports = { handler, … }', 'async function handler() {}\nfunction other() {}\nmodule.exports = { handler, other };', 2],
      ['module.exports = { …, handler }', 'module.exports = { other, handler };', 0],
      ['module.exports = { handler: … }', 'module.exports = {\n  version: 2,\n  handler: async (medplum, event) => { return { a: [1, 2] }; },\n};', 0],
      ['module.exports = { handler: … } after nested values', 'module.exports = { cfg: { handler: 0, list: [1, (2)] }, handler: run };', 0],
      ['module.exports = { async handler() }', 'module.exports = {\n  async handler(medplum, event) {\n    return 1;\n  },\n};', 0],
      ["module.exports = { 'handler': … }", "module.exports = { 'handler': run };", 0],
      ["Object.defineProperty(exports, 'handler'", "Object.defineProperty(exports, 'handler', { enumerable: true, get: () => run });", 0],
      ['Object.defineProperty(module.exports, "handler"', 'Object.defineProperty(module.exports, "handler", { value: run });', 0],
      ['export default { handler } (the runner reads default.handler)', 'async function handler() {}\nexport default { handler };', 1],
      [
        'tsc CommonJS output',
        '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.handler = void 0;\nasync function handler(medplum, event) {}\nexports.handler = handler;\n',
        2,
      ],
      [
        'esbuild CommonJS output',
        'var bot_exports = {};\n__export(bot_exports, {\n  handler: () => handler\n});\nmodule.exports = __toCommonJS(bot_exports);\nasync function handler() {}\n',
        1,
      ],
    ];
    for (const [form, source, line] of forms) {
      it(form, () => {
        assert.equal(findHandlerLine(source), line);
        assert.equal(exportsHandler(source), true);
      });
    }
  });

  describe('is not fooled by shared modules, comments and strings', () => {
    const negatives: [string, string][] = [
      ['a helper with other exports', 'export function double(n: number): number {\n  return n * 2;\n}\nexport const PI = 3;\nexport { a, b as c };\n'],
      ['a CommonJS helper', 'function format(x) { return x; }\nmodule.exports = { format, parse: (s) => s };\nexports.other = 1;'],
      ['a helper whose function is called handler but is not exported', 'export function run() {}\nasync function handler() {}\nconst h = handler;'],
      ['a commented-out handler', '// export async function handler(medplum, event) {}\nexport function helper() {}'],
      ['a handler in a block comment', '/*\nexport async function handler(medplum, event) {}\nexports.handler = 1;\n*/\nexport const x = 1;'],
      ['a handler in a JSDoc comment', '/**\n * Used by every bot\'s\n * export function handler\n */\nexport function helper() {}'],
      ['a string containing "export function handler"', 'export const doc = "export function handler(medplum, event) {}";'],
      ['a single-quoted string', "export const doc = 'exports.handler = 1';"],
      ['a template literal', 'export const tpl = `\nexport async function handler() {}\nmodule.exports = { handler };\n`;'],
      ['a template literal with an expression', 'export const tpl = `x ${1 + 2} export const handler = ${"y"}`;'],
      ['a regular expression', 'export const RE = /export function handler/;'],
      ['export { handler as run }', 'function handler() {}\nexport { handler as run };'],
      ['export type { handler }', "export type { handler } from './types';"],
      ['export { type handler }', "export { type handler } from './types';"],
      ['export default function handler', 'export default async function handler(medplum, event) {}'],
      ['export default handler', 'async function handler() {}\nexport default handler;'],
      ['export declare function handler', 'export declare function handler(m: unknown): void;'],
      ['export * from', "export * from './bot';"],
      ['names that start with handler', 'export function handlerFor() {}\nexport const handlers = [];\nexports.handlerName = 1;\nexport { handler2 };'],
      ['comparisons, not assignments', 'if (exports.handler === undefined) {}\nif (module.exports.handler == null) {}'],
      ['another object exports', 'foo.exports.handler = 1;\nthis.module.exports = { handler };'],
      ['a key nested below the top level', 'module.exports = { routes: { handler: run }, list: [handler] };'],
      ['a value named handler', 'module.exports = { run: handler };'],
      ['defineProperty of another name', 'Object.defineProperty(exports, "__esModule", { value: true });\nObject.defineProperty(exports, "helper", { value: handler });'],
    ];
    for (const [what, source] of negatives) {
      it(what, () => {
        assert.equal(findHandlerLine(source), undefined);
        assert.equal(exportsHandler(source), false);
      });
    }
  });

  describe('reads past code that looks like comments or strings', () => {
    it('a division is not a regular expression', () => {
      assert.equal(findHandlerLine('const half = a / b, third = c / 3;\nexport const handler = 1;'), 1);
      assert.equal(findHandlerLine("const r = (x) / 2; const s = ')'; // '\nexport { handler };"), 1);
    });
    it('a regular expression with quotes, slashes in a class or a backtick', () => {
      assert.equal(findHandlerLine("const q = /['\"`]/g, s = /[/]+/;\nexport async function handler() {}"), 1);
      assert.equal(findHandlerLine('function f(s) { return /a\\/b/.test(s); }\nexport const handler = f;'), 1);
    });
    it('strings with comment markers and escaped quotes', () => {
      assert.equal(findHandlerLine('const u = "http://x/*"; const v = \'it\\\'s\';\nexports.handler = 1;'), 1);
    });
    it('template literals with nested templates and braces', () => {
      assert.equal(findHandlerLine('const s = `a ${ { k: `b ${c} }` }.k } d`;\nconst t = `}`;\nexport function handler() {}'), 2);
    });
    it('comments spanning lines keep the line count', () => {
      assert.equal(findHandlerLine('/*\n\n*/\n// x\nexport function handler() {}'), 4);
      assert.equal(findHandlerLine('const a = `\n\n`;\r\nexport function handler() {}'), 3);
    });
    it('the first of several exports', () => {
      assert.equal(findHandlerLine('// export function handler\nexport { handler as other };\nexport { run as handler };\nexports.handler = run;'), 2);
    });
    it('masking keeps the length and the lines', () => {
      const src = 'a /* b\n c */ "d\\"e" `f\n${g}`, /h/ // i\nj';
      const masked = maskNonCode(src);
      assert.equal(masked.length, src.length);
      assert.deepEqual(masked.split('\n').length, src.split('\n').length);
      assert.doesNotMatch(masked, /[bcdefhi]/);
      assert.match(masked, /\$\{g\}/);
      assert.match(masked, /j$/);
    });
    it('is linear: a megabyte of source takes milliseconds', () => {
      const chunk = 'const a = `x ${b / 2}`; // note\nconst c = "s" + /r/.source; /* d */\nexport function helper(n) { return { k: [n] }; }\n';
      const big = chunk.repeat(Math.ceil(1_000_000 / chunk.length)) + 'export { helper as handler };\n';
      const t0 = performance.now();
      assert.equal(findHandlerLine(big), big.split('\n').length - 2);
      assert.ok(performance.now() - t0 < 5000, `${Math.round(performance.now() - t0)} ms`);
    });
  });

  describe('inspectBotFile and isSharedModule', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    it('source with a handler is a bot; without one, a shared module', () => {
      assert.deepEqual(inspectBotFile(enc('x;\nexports.handler = 1;')), { kind: 'source', handlerLine: 1 });
      assert.equal(isSharedModule(inspectBotFile(enc('export async function handler() {}'))), false);
      assert.equal(isSharedModule(inspectBotFile(enc('export function helper() {}'))), true);
      assert.equal(isSharedModule(inspectBotFile(enc('// export function handler() {}'))), true);
    });
    it('binary, empty and unreadable files are not shared modules: they stay listed with a warning', () => {
      assert.equal(isSharedModule(inspectBotFile(new Uint8Array())), false);
      assert.equal(isSharedModule(inspectBotFile(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1]))), false);
      assert.equal(isSharedModule({ kind: 'unreadable' }), false);
    });
  });
});

describe('bots: discovery lists bots, not the modules they share', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
    root = undefined;
  });

  it('in the bots tree, the CLI and Run Bot… alike (one core rule)', async () => {
    const ws = (root = makeWorkspace({
      'bots/hello.ts': "import { greet } from './helpers';\nexport async function handler(medplum, event) {\n  return greet(event.input);\n}\n",
      'bots/helpers.ts': 'export function greet(name: string): string {\n  return `Hello ${name}`;\n}\n// export async function handler() {} -- not here\n',
      'bots/lib/format.js': 'module.exports = { format: (x) => String(x) };\n',
      'bots/lib/types.ts': 'export interface Greeting { name: string }\nexport type { Greeting as G };\n',
      'bots/legacy.js': "const { format } = require('./lib/format');\nexports.handler = async (medplum, event) => format(event.input);\n",
      'bots/reexport.ts': "export { run as handler } from './lib/run';\n",
      'bots/commonjs.cjs': 'async function handler() {}\nmodule.exports = { handler };\n',
      'bots/empty.ts': '',
      'bots/configured-helper.ts': 'export const notAHandler = 1;\n',
      'medplum.config.json': JSON.stringify({ bots: [{ name: 'configured', id: 'c-1', source: 'bots/configured-helper.ts' }] }),
    }));
    const d = await discoverBots(ws);
    assert.deepEqual(
      d.bots.map((b) => [b.relPath, b.origin]),
      [
        ['bots/commonjs.cjs', 'glob'],
        ['bots/configured-helper.ts', 'both'], // medplum.config.json lists it: a bot whatever it exports
        ['bots/empty.ts', 'glob'], // not source yet: listed, and the tree says "empty file"
        ['bots/hello.ts', 'glob'],
        ['bots/legacy.js', 'glob'],
        ['bots/reexport.ts', 'glob'],
      ],
    );
    assert.deepEqual(
      d.shared.map((b) => b.relPath),
      ['bots/helpers.ts', 'bots/lib/format.js', 'bots/lib/types.ts'],
    );
    assert.deepEqual(d.issues, []);
  });

  it('a file that cannot be read is still listed, with a warning', async () => {
    const ws = (root = makeWorkspace({ 'bots/ok.ts': 'export const handler = 1;', 'bots/huge.js': '' }));
    // Over 2 GiB (sparse): Node refuses to read it whole, as it would refuse a file without read permission.
    fs.truncateSync(path.join(ws, 'bots/huge.js'), 2 ** 31 + 1);
    const d = await discoverBots(ws);
    assert.deepEqual(d.bots.map((b) => b.relPath), ['bots/huge.js', 'bots/ok.ts']);
    assert.equal(d.issues.length, 1);
    assert.equal(d.issues[0].file, 'bots/huge.js');
    assert.match(d.issues[0].reason, /^cannot be read: /);
  });

  it('a file gains and loses its handler', async () => {
    const ws = (root = makeWorkspace({ 'bots/wip.ts': 'export function helper() {}\n' }));
    assert.deepEqual((await discoverBots(ws)).bots, []);
    fs.appendFileSync(path.join(ws, 'bots/wip.ts'), 'export async function handler() {}\n');
    assert.deepEqual((await discoverBots(ws)).bots.map((b) => b.name), ['wip']);
    fs.writeFileSync(path.join(ws, 'bots/wip.ts'), '// export async function handler() {}\n');
    assert.deepEqual((await discoverBots(ws)).shared.map((b) => b.name), ['wip']);
  });

  it('the example workspace still lists all its bots', async () => {
    const d = await discoverBots(path.resolve(__dirname, '..', '..', '..', '..', 'examples', 'workspace'));
    assert.deepEqual(
      d.bots.map((b) => b.relPath),
      [
        'bots/broken-bot.ts',
        'bots/endless-bot.ts',
        'bots/hello-bot.ts',
        'bots/memory-hog.ts',
        'bots/nightly-report.ts',
        'bots/quitter.js',
        'bots/records/care-summary.ts',
        'bots/records/patient-crud.ts',
        'bots/validate-patient.ts',
      ],
    );
    assert.deepEqual(d.shared.map((b) => b.relPath), ['bots/records/fhir-helpers.ts'], 'the module care-summary imports is not a bot');
  });

  it('stays fast: 500 bots and 100 helpers', async () => {
    const files: Record<string, string> = {};
    const body = `import { helper } from '../lib/h0';\n/** A bot. */\n${'const x = `a ${1 / 2}`; // c\n'.repeat(100)}`;
    for (let i = 0; i < 500; i++) files[`bots/g${i % 10}/bot-${i}.ts`] = `${body}export async function handler(medplum, event) {\n  return helper(event);\n}\n`;
    for (let i = 0; i < 100; i++) files[`bots/lib/h${i}.ts`] = `${body}export function helper(e: unknown) { return e; } // not a handler\n`;
    const ws = (root = makeWorkspace(files));
    const t0 = performance.now();
    const d = await discoverBots(ws);
    const ms = performance.now() - t0;
    assert.equal(d.bots.length, 500);
    assert.equal(d.shared.length, 100);
    assert.ok(ms < 2000, `${Math.round(ms)} ms`);
  });
});
