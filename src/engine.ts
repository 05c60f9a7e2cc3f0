import type * as Engine from './core/engine';

let loaded: typeof Engine | undefined;

/**
 * The core's heavy half (src/core/engine.ts: the local log, the runner, the file audit, the team
 * log), required on first use. In the extension's bundle the require is of dist/engine.js, a file of
 * its own (esbuild.mjs), so that activation neither reads nor compiles it; in the tests it is bundled.
 * The rest of the editor's code names its types with `import type` and its values through here.
 */
export function engine(): typeof Engine {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (loaded ??= require('./core/engine') as typeof Engine);
}
