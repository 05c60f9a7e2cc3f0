// The extension's mocha suite. VS Code's test runner (code-server here, @vscode/test-electron on a
// desktop) loads this module in the extension host and awaits `run()`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..', '..', '..');
  const statsFile = process.env.BOT_AUDIT_STATS_FILE ?? path.join(root, 'test-results', 'integration-stats.json');
  const mocha = new Mocha({
    ui: 'bdd',
    color: false,
    timeout: 120_000,
    reporter: path.join(root, 'test', 'harness', 'stats-reporter.cjs'),
    reporterOptions: { statsFile },
    // BOT_AUDIT_GREP runs the tests whose titles match (while working on one; npm test runs all).
    ...(process.env.BOT_AUDIT_GREP ? { grep: process.env.BOT_AUDIT_GREP } : {}),
  });
  // BOT_AUDIT_SUITE=restricted runs the Restricted Mode checks (in an untrusted window), corpus-* the
  // Medplum bot corpus (in a window on its fixture workspace); otherwise the rest.
  const suite = process.env.BOT_AUDIT_SUITE ?? '';
  const own = suite === 'restricted' ? 'restricted.test.js' : suite.startsWith('corpus-') ? 'corpus.test.js' : undefined;
  for (const f of fs.readdirSync(__dirname).sort()) {
    if (!f.endsWith('.test.js')) continue;
    if (own ? f === own : f !== 'restricted.test.js' && f !== 'corpus.test.js') mocha.addFile(path.join(__dirname, f));
  }
  return new Promise((resolve, reject) => {
    try {
      mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} integration test(s) failed`)) : resolve()));
    } catch (e) {
      reject(e);
    }
  });
}
