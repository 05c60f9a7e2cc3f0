// The one place that assembles a runner with its local FHIR server and esbuild, for the extension and the CLI.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { discoverBots } from '../bots/discovery';
import { FhirHost } from '../fhir/host';
import type { ResourceLog } from '../fhir/repository';
import type { AuditSink } from './types';
import { BotRunner, type BotRunnerOptions, type BotTarget } from './runner';

export interface OpenRunnerOptions extends Omit<BotRunnerOptions, 'workerPath' | 'store' | 'medplum' | 'resolveBot'> {
  /** The audit store: the log of runs, and the resources' only durable copy. */
  store: AuditSink & ResourceLog;
  /** The built extension's `dist` folder (bot-worker.js, fhir-server.js, fhir/, sql-wasm.wasm, and esbuild/ when packaged). */
  distDir: string;
  /** `.bot-audit/` (Binary content goes in its binary/ folder). */
  dataDir: string;
  /**
   * Runs the FHIR server on a thread of its own that opens this log file itself (the extension
   * host: the editor's thread never indexes definitions or builds GraphQL's schema). `wasmPath`
   * defaults to dist's sql-wasm.wasm.
   */
  serverThread?: { logFile: string; wasmPath?: string };
}

/**
 * Finds the workspace bot that `executeBot` names: by Medplum id (medplum.config.json), name,
 * path, or an identifier `system|value` among the bot's settings' `identifier`s.
 */
export async function resolveWorkspaceBot(root: string, ref: { id?: string; identifier?: string }): Promise<BotTarget | undefined> {
  const { bots } = await discoverBots(root);
  const bot = ref.id
    ? bots.find((b) => b.id === ref.id) ?? bots.find((b) => b.name === ref.id) ?? bots.find((b) => b.relPath === ref.id)
    : bots.find((b) => ref.identifier !== undefined && (b.settings.identifier ?? []).includes(ref.identifier));
  return bot && { path: bot.path, name: bot.name, id: bot.id, relPath: bot.relPath, settings: bot.settings };
}

/**
 * esbuild (which bundles bots) as a packaged extension ships it, in dist/esbuild: the package has no
 * node_modules. Undefined elsewhere (development, the CLI from npm), where it comes from node_modules.
 */
function shippedEsbuild(distDir: string): string | undefined {
  const main = path.join(distDir, 'esbuild', 'lib', 'main.js');
  if (!fs.existsSync(main)) return undefined;
  process.env.ESBUILD_BINARY_PATH = path.join(distDir, 'esbuild', 'bin', process.platform === 'win32' ? 'esbuild.exe' : 'esbuild');
  return main;
}

/** A runner and the local FHIR server its bots call, from the built `dist` folder. */
export function openRunner(opts: OpenRunnerOptions): { runner: BotRunner; fhir: FhirHost } {
  const shipped = path.join(opts.distDir, 'fhir');
  const definitionsDir = fs.existsSync(path.join(shipped, 'search-parameters.json')) ? shipped : undefined;
  const thread = opts.serverThread && { workerPath: path.join(opts.distDir, 'fhir-server.js'), wasmPath: path.join(opts.distDir, 'sql-wasm.wasm'), ...opts.serverThread };
  const fhir = new FhirHost({ log: opts.store, dataDir: opts.dataDir, definitionsDir, thread });
  const { store, distDir: _d, dataDir: _dd, serverThread: _t, ...rest } = opts;
  const runner = new BotRunner({
    ...rest,
    workerPath: path.join(opts.distDir, 'bot-worker.js'),
    esbuildPath: opts.esbuildPath ?? shippedEsbuild(opts.distDir),
    store,
    medplum: fhir,
    resolveBot: resolveWorkspaceBot,
  });
  return { runner, fhir };
}
