// The bot runner: no `vscode` import; shared by the extension and the CLI.
export {
  BotRunner,
  type BotRunnerOptions,
  type BotTarget,
  type DebugRecord,
  type DebugRequest,
  type InspectorInfo,
  type MedplumCallContext,
  type MedplumHost,
  type RunHandle,
  type RunRequest,
  type RunResult,
} from './runner';
export { ReplayError, replayInput, type ReplayableEntry, type ReplayInput } from './replay';
export { openRunner, resolveWorkspaceBot, type OpenRunnerOptions } from './open';
export { BotBundler, BundleError, loadEsbuild, type BotBundle, type BundlerOptions } from './bundler';
export { BotProcess, IsolatePool, killTree } from './pool';
export { currentNode, debugProblem, normalizePermissions, permissionFlag, probeNode, sandboxKey, type DebugSpec, type NodeRuntime, type SandboxSpec } from './sandbox';
export { parseRunInput, baseContentType, isJsonContentType, type ParsedInput } from './input';
export { detectUser, detectUserAsync, shouldRecord } from './auditPolicy';
export {
  FAILURE_OUTCOME,
  OUTCOME_DISPLAY,
  formatLogLine,
  type AuditEntryInput,
  type AuditSink,
  type BotReference,
  type FailureKind,
  type LogLevel,
  type LogLine,
  type RunOutcome,
} from './types';
