// A mocha reporter: prints like `spec`, and writes the run's counts as JSON to the
// file named by BOT_AUDIT_STATS_FILE (or the reporter option `statsFile`), so that
// test/harness/run-all.mjs can add every stage up into one closing line.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Mocha = require('mocha');

class StatsReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const file = options?.reporterOptions?.statsFile ?? process.env.BOT_AUDIT_STATS_FILE;
    const failures = [];
    runner.on('fail', (test, err) => failures.push({ title: test.fullTitle(), error: String(err?.message ?? err) }));
    runner.once('end', () => {
      if (!file) return;
      const s = runner.stats ?? {};
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(
        file,
        JSON.stringify({ passed: s.passes ?? 0, failed: s.failures ?? 0, skipped: s.pending ?? 0, failures }, null, 2),
      );
    });
  }
}
module.exports = StatsReporter;
