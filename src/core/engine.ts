// The core's heavy half, as the editor uses it: the local log (with sql.js and the query compiler),
// the runner (esbuild's API, the local FHIR server's host, semver), the window's session, the
// file audit's lease and the team log (with pg). The extension's bundle does not contain it:
// esbuild.mjs builds it as a file of its own (dist/engine.js), which src/engine.ts's engine()
// requires on first use, after activation. Only what the editor's code uses is exported; the CLI
// bundles the core whole.
export { AuditStore } from './store';
export { FileLock } from './store/lock';
export { openRunner } from './runner/open';
export { Session } from './workspace/sessions';

/** The team log's reader and replicator: evaluated (and `pg` required) only when a team log is set. */
export const loadTeam = () => import('./team');
