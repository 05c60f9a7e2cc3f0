// bot-audit.json / medplum.config.json validation, .env parsing and masking, bot discovery.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadBotAuditConfig, loadMedplumConfig, readSampleInput, resolveBotSettings, settingsForBot, formatConfigIssue } from '../../../src/core/bots/config';
import { SECRET_MASK, SecretMasker, loadSecrets, parseDotEnv, toEventSecrets } from '../../../src/core/bots/secrets';
import { discoverBots } from '../../../src/core/bots/discovery';
import { makeWorkspace, removeWorkspace } from '../runner/helpers';

describe('bots: bot-audit.json', () => {
  let roots: string[] = [];
  const ws = (files: Record<string, string>): string => {
    const r = makeWorkspace(files);
    roots.push(r);
    return r;
  };
  afterEach(() => {
    roots.forEach(removeWorkspace);
    roots = [];
  });

  it('a missing file gives the defaults and no issue', () => {
    const root = ws({});
    const cfg = loadBotAuditConfig(root);
    assert.equal(cfg.exists, false);
    assert.deepEqual(cfg.issues, []);
    const s = settingsForBot(cfg, 'bots/a.ts', 'a');
    assert.deepEqual(s, { timeout: 10, memoryLimitMb: 256, auditEventTrigger: 'always', auditEventDestination: ['resource'], contentType: 'application/json', inputs: {} });
  });

  it('reads settings by path or by name (path wins), a single destination string, inputs by value or file', () => {
    const root = ws({
      'bot-audit.json': JSON.stringify({
        glob: 'src/**/*.ts',
        bots: {
          hello: { timeout: 5, auditEventTrigger: 'on-error' },
          'bots/hello.ts': { name: 'Hello', timeout: 2, auditEventDestination: 'log', inputs: { ada: { name: 'Ada' }, fromFile: { file: 'inputs/x.json' } } },
        },
      }),
      'inputs/x.json': '{"name":"X"}',
    });
    const cfg = loadBotAuditConfig(root);
    assert.deepEqual(cfg.issues, []);
    assert.equal(cfg.glob, 'src/**/*.ts');
    const s = settingsForBot(cfg, 'bots/hello.ts', 'hello');
    assert.equal(s.name, 'Hello');
    assert.equal(s.timeout, 2);
    assert.equal(s.auditEventTrigger, 'on-error');
    assert.deepEqual(s.auditEventDestination, ['log']);
    assert.deepEqual(readSampleInput(root, s.inputs.ada), { input: { name: 'Ada' } });
    assert.deepEqual(readSampleInput(root, s.inputs.fromFile), { inputText: '{"name":"X"}' });
  });

  it('takes the editor’s defaults under the file’s per-bot values', () => {
    const cfg = { file: 'bot-audit.json', exists: true, bots: { 'bots/a.ts': { timeout: 2 } }, issues: [] };
    const defaults = { timeout: 30, memoryLimitMb: 512, auditEventDestination: ['log' as const] };
    const a = settingsForBot(cfg, 'bots/a.ts', 'a', defaults);
    assert.equal(a.timeout, 2, 'the file wins');
    assert.equal(a.memoryLimitMb, 512, 'the editor default fills in');
    assert.deepEqual(a.auditEventDestination, ['log']);
    const b = settingsForBot(cfg, 'bots/b.ts', 'b', defaults);
    assert.equal(b.timeout, 30);
    assert.equal(settingsForBot(cfg, 'bots/b.ts', 'b').timeout, 10, 'without editor defaults, the built-in one');
  });

  it('reports every bad field with the file, the field and the reason', () => {
    const root = ws({
      'bot-audit.json': JSON.stringify({
        bots: {
          'bots/a.ts': { timeout: -1, memoryLimitMb: 'lots', auditEventTrigger: 'sometimes', auditEventDestination: ['db'], contentType: 'image/png', colour: 'red', inputs: { f: { file: 3 } } },
          b: 'nope',
        },
        extra: true,
      }),
    });
    const cfg = loadBotAuditConfig(root);
    const file = path.join(root, 'bot-audit.json');
    const fields = cfg.issues.map((i) => i.field).sort();
    assert.deepEqual(fields, [
      'bots["b"]',
      'bots["bots/a.ts"].auditEventDestination',
      'bots["bots/a.ts"].auditEventTrigger',
      'bots["bots/a.ts"].colour',
      'bots["bots/a.ts"].contentType',
      'bots["bots/a.ts"].inputs["f"].file',
      'bots["bots/a.ts"].memoryLimitMb',
      'bots["bots/a.ts"].timeout',
      'extra',
    ]);
    for (const i of cfg.issues) {
      assert.equal(i.file, file);
      assert.ok(i.reason.length > 5);
    }
    assert.match(formatConfigIssue(cfg.issues[0]), new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`));
    // Valid fields of a bad entry still apply; bad ones fall back to defaults.
    assert.equal(settingsForBot(cfg, 'bots/a.ts', 'a').timeout, 10);
  });

  it('reads a bot’s identifiers (one or a list of system|value) and reports a malformed one', () => {
    const root = ws({
      'bot-audit.json': JSON.stringify({ bots: { 'bots/a.ts': { identifier: 'urn:x|a' }, 'bots/b.ts': { identifier: ['urn:x|b', '|b2'] }, 'bots/c.ts': { identifier: ['no-bar'] } } }),
    });
    const cfg = loadBotAuditConfig(root);
    assert.deepEqual(settingsForBot(cfg, 'bots/a.ts', 'a').identifier, ['urn:x|a']);
    assert.deepEqual(settingsForBot(cfg, 'bots/b.ts', 'b').identifier, ['urn:x|b', '|b2']);
    assert.equal(settingsForBot(cfg, 'bots/c.ts', 'c').identifier, undefined);
    assert.deepEqual(cfg.issues.map((i) => i.field), ['bots["bots/c.ts"].identifier']);
  });

  it('reports a file that is not JSON', () => {
    const root = ws({ 'bot-audit.json': '{ "bots": ' });
    const cfg = loadBotAuditConfig(root);
    assert.equal(cfg.issues.length, 1);
    assert.equal(cfg.issues[0].field, '');
    assert.match(cfg.issues[0].reason, /not valid JSON/);
  });

  it('medplum.config.json bots: validated, merged into discovery with their id', async () => {
    const root = ws({
      'medplum.config.json': JSON.stringify({ bots: [{ name: 'custom', id: 'abc-123', source: 'src/custom-bot.ts', dist: 'dist/custom-bot.js' }, { name: 'ghost', source: 'src/missing.ts' }, { id: 'x' }] }),
      'src/custom-bot.ts': 'export async function handler() {}',
    });
    const mp = loadMedplumConfig(root);
    assert.deepEqual(mp.issues.map((i) => i.field), ['bots[1].source', 'bots[2].name']);
    const d = await discoverBots(root);
    assert.deepEqual(d.bots.map((b) => [b.name, b.id, b.relPath, b.origin]), [['custom', 'abc-123', 'src/custom-bot.ts', 'medplum.config']]);
  });

  it('medplum.config.json cannot point a bot at a file outside the workspace (issue 18)', async () => {
    const root = ws({ 'src/inside.ts': 'export async function handler() {}' });
    const outside = path.join(path.dirname(root), `outside-${path.basename(root)}.js`);
    fs.writeFileSync(outside, 'exports.handler = async () => "ran outside";');
    fs.symlinkSync(outside, path.join(root, 'src', 'link.js'));
    try {
      fs.writeFileSync(
        path.join(root, 'medplum.config.json'),
        JSON.stringify({
          bots: [
            { name: 'escape', source: `../${path.basename(outside)}` },
            { name: 'absolute', source: outside },
            { name: 'linked', source: 'src/link.js' },
            { name: 'fine', source: 'src/inside.ts', dist: '../dist/fine.js' },
            { name: 'ok', source: 'src/inside.ts' },
          ],
        }),
      );
      const mp = loadMedplumConfig(root);
      assert.deepEqual(mp.issues.map((i) => i.field), ['bots[0].source', 'bots[1].source', 'bots[2].source', 'bots[3].dist']);
      assert.ok(mp.issues.every((i) => /outside the workspace folder/.test(i.reason)));
      assert.deepEqual(mp.bots.map((b) => b.name), ['ok']);
      const d = await discoverBots(root);
      assert.ok(!d.bots.some((b) => ['escape', 'absolute', 'linked', 'fine'].includes(b.name)), d.bots.map((b) => b.name).join());
      assert.deepEqual(d.bots.filter((b) => fs.realpathSync(b.path) === outside).map((b) => b.name), []);
    } finally {
      fs.rmSync(outside, { force: true });
    }
  });

  it('resolveBotSettings applies later parts over earlier ones', () => {
    assert.equal(resolveBotSettings({ timeout: 3 }, { timeout: 4 }).timeout, 4);
    assert.deepEqual(resolveBotSettings({ auditEventDestination: ['resource', 'log'] }).auditEventDestination, ['resource', 'log']);
  });
});

describe('bots: secrets', () => {
  it('parses NAME=value lines, comments, export, quotes and escapes', () => {
    const { values, issues } = parseDotEnv(
      ['# comment', 'A=1', 'export B = two words ', "C='single # not a comment'", 'D="line\\nbreak \\"q\\""', 'E=value # trailing comment', '', 'F=', 'bad line', 'G="multi', 'line"'].join('\n'),
    );
    assert.deepEqual(values, { A: '1', B: 'two words', C: 'single # not a comment', D: 'line\nbreak "q"', E: 'value', F: '', G: 'multi\nline' });
    assert.deepEqual(issues.map((i) => i.field), ['line 9']);
  });

  it('loads .env from the root (missing is fine) and shapes secrets as Medplum does', () => {
    const root = makeWorkspace({ '.env': 'TOKEN=abc\n' });
    try {
      assert.deepEqual(toEventSecrets(loadSecrets(root).values), { TOKEN: { name: 'TOKEN', valueString: 'abc' } });
      assert.deepEqual(loadSecrets(path.join(root, 'nowhere')).values, {});
    } finally {
      removeWorkspace(root);
    }
  });

  it('masks values in text and in JSON values (longest first), never empty ones', () => {
    const m = new SecretMasker(['abcdef', 'abcdefgh', '']);
    assert.equal(m.maskText('x abcdefgh y abcdef'), `x ${SECRET_MASK} y ${SECRET_MASK}`);
    assert.deepEqual(m.maskValue({ k: ['abcdef', 1, true], abcdef: null }), { k: [SECRET_MASK, 1, true], [SECRET_MASK]: null });
    assert.equal(new SecretMasker([]).maskText('abcdef'), 'abcdef');
  });

  it('masks a secret only as a whole token, and never one shorter than 6 characters (issue 18, defect 5)', () => {
    const m = new SecretMasker(['1', '8', 'k3y-9f8e7d', 's3cr3t']);
    assert.deepEqual(m.secrets, ['k3y-9f8e7d', 's3cr3t'], 'short values are not masked at all');
    const birth = { birthDate: '1985-08-15', id: '81b2c3d4-1e5f', when: '2026-01-18T10:11:12.813Z' };
    assert.deepEqual(m.maskValue(birth), birth, 'dates, IDs and timestamps are left alone');
    assert.equal(m.maskText('Authorization: Bearer k3y-9f8e7d.'), `Authorization: Bearer ${SECRET_MASK}.`);
    assert.equal(m.maskText('url?key=s3cr3t&x=1 "s3cr3t"'), `url?key=${SECRET_MASK}&x=1 "${SECRET_MASK}"`);
    assert.equal(m.maskText('xs3cr3t s3cr3ts s3cr3t_2 é-s3cr3t'), `xs3cr3t s3cr3ts s3cr3t_2 é-${SECRET_MASK}`, 'inside a longer word it is not the secret');
  });
});

describe('bots: discovery', () => {
  it('finds bots by the glob, outside node_modules and .git, leaving out tests and specs', async () => {
    const root = makeWorkspace({
      'bots/a.ts': '',
      'bots/sub/b.mjs': '',
      'bots/a.test.ts': '',
      'bots/a.spec.js': '',
      'bots/readme.md': '',
      'bots/types.d.ts': '',
      'node_modules/x/bots/c.ts': '',
      '.git/bots/d.ts': '',
      'src/e.ts': '',
      'bot-audit.json': JSON.stringify({ bots: { 'bots/a.ts': { name: 'Alpha', timeout: 3 } } }),
    });
    try {
      const d = await discoverBots(root);
      assert.deepEqual(d.bots.map((b) => b.relPath), ['bots/a.ts', 'bots/sub/b.mjs']);
      assert.equal(d.bots[0].name, 'Alpha');
      assert.equal(d.bots[0].settings.timeout, 3);
      assert.equal(d.bots[1].name, 'b');
      assert.equal(d.bots[0].path, path.join(root, 'bots/a.ts'));
      assert.deepEqual((await discoverBots(root, { glob: 'src/**/*.ts' })).bots.map((b) => b.relPath), ['src/e.ts']);
    } finally {
      removeWorkspace(root);
    }
  });

  it('says what each file holds, starts settings from the given defaults, and takes the files from a lister when given one', async () => {
    const root = makeWorkspace({
      'bots/a.ts': 'export async function handler() {}\n',
      'bots/empty.ts': '',
      'bots/helper.ts': 'export const x = 1;\n',
      'bot-audit.json': JSON.stringify({ bots: { 'bots/a.ts': { timeout: 3 } } }),
    });
    try {
      const d = await discoverBots(root, { defaults: { timeout: 30, memoryLimitMb: 512 } });
      assert.deepEqual(d.content.get('bots/a.ts'), { kind: 'source', handlerLine: 0 });
      assert.deepEqual(d.content.get('bots/empty.ts'), { kind: 'empty' });
      assert.deepEqual(d.content.get('bots/helper.ts'), { kind: 'source' });
      const a = d.bots.find((b) => b.relPath === 'bots/a.ts')!;
      assert.deepEqual([a.settings.timeout, a.settings.memoryLimitMb], [3, 512], "bot-audit.json's value over the default");
      assert.equal(d.bots.find((b) => b.relPath === 'bots/empty.ts')!.settings.timeout, 30);
      const listed = await discoverBots(root, { listFiles: async () => ['bots/a.ts', 'bots/helper.ts', 'README.md'] });
      assert.deepEqual(listed.bots.map((b) => b.relPath), ['bots/a.ts']);
      assert.deepEqual(listed.shared.map((b) => b.relPath), ['bots/helper.ts']);
    } finally {
      removeWorkspace(root);
    }
  });
});
