import * as path from 'node:path';
import vscode = require('vscode');
import { settings } from './editorSettings';
import { Disposable } from '../disposable';
import { log } from '../logger';
import type { AuditLog, AuditStore, Entry, StoreWarning } from '../core/store';
import { engine } from '../engine';
import { detectUser, detectUserAsync } from '../core/runner/auditPolicy';
import { DATA_DIR, ensureDataDir, resolveDbPath } from '../core/workspace/layout';
import type { Session } from '../core/workspace/sessions';

/**
 * The workspace's audit log, opened on first use (sql.js is not loaded at activation).
 * Records LOGIN when the window opens the log, and LOGOUT when it closes.
 */
export class AuditService extends Disposable {
  private storePromise: Promise<AuditStore> | undefined;
  private opened: AuditStore | undefined;
  private session: Session | undefined;
  private readonly appended = this.register(new vscode.EventEmitter<Entry[]>());
  /** New entries, from this window and from every other writer of the same log. */
  readonly onDidAppend = this.appended.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    readonly root: string,
    /** Where the newest entry this window saw of the log is kept, outside the workspace (global storage). */
    private readonly witnessDir?: string,
  ) {
    super();
  }

  get dbPath(): string {
    return resolveDbPath(this.root, settings(vscode.Uri.file(this.root)).databasePath);
  }

  /** The person acting in this window: git user.email, else the OS user. */
  get user(): string {
    return detectUser(this.root);
  }

  get isOpen(): boolean {
    return this.storePromise !== undefined;
  }

  /** The log, as the views and commands use it (the one interface of src/core/store/api.ts). */
  store(): Promise<AuditLog> {
    return this.localStore();
  }

  /**
   * The local log itself (sql.js), for what only it does: the runner's local FHIR server and the
   * workspace file audit read it synchronously, under its writers' lock (AuditStore.appendWith).
   */
  localStore(): Promise<AuditStore> {
    this.storePromise ??= this.open().then(
      (s) => {
        this.opened = s;
        this.didOpen.fire();
        return s;
      },
      (e) => {
        this.storePromise = undefined;
        throw e;
      },
    );
    return this.storePromise;
  }

  /** The store if it is open already; never waits (views render without it, then refresh). */
  get openStore(): AuditLog | undefined {
    return this.opened;
  }

  private readonly didOpen = this.register(new vscode.EventEmitter<void>());
  /** Fires once the log is open. */
  readonly onDidOpen = this.didOpen.event;

  private async open(): Promise<AuditStore> {
    const file = this.dbPath;
    ensureDataDir(file);
    const started = Date.now();
    const store = await engine().AuditStore.open(file, {
      wasmPath: vscode.Uri.joinPath(this.extensionUri, 'dist', 'sql-wasm.wasm').fsPath,
      witnessDir: this.witnessDir,
    });
    log.info(`Opened the audit log ${file} (${store.size} entries) in ${Date.now() - started} ms`);
    this.register(store.onDidAppend((entries) => this.appended.fire(entries)));
    const warn = (w: StoreWarning) => log.warn(`Audit log: ${w.message} (${w.file}${w.offset !== undefined ? ` at byte ${w.offset}` : ''})`);
    // What opening found (a torn line, triggers put back, a log shorter than this machine saw), then what comes later.
    for (const w of store.warnings) warn(w);
    this.register(store.onDidWarn(warn));
    return store;
  }

  /** Records this window's LOGIN (and any dead window's missing LOGOUT). */
  async login(): Promise<void> {
    // Who this is, found without holding up the extension host while git answers.
    await detectUserAsync(this.root);
    const store = await this.store();
    this.session = await engine().Session.login(store, path.join(path.dirname(this.dbPath), 'sessions'), this.user, `VS Code ${vscode.version}`);
  }

  /** Records LOGOUT and closes the log, folding its journal into the database file. */
  async close(): Promise<void> {
    if (!this.storePromise) return;
    const store = await this.storePromise.catch(() => undefined);
    this.storePromise = undefined;
    this.opened = undefined;
    if (!store) return;
    try {
      await this.session?.logout();
    } catch (e) {
      log.error('Could not record LOGOUT', e);
    }
    await store.close();
  }

  /** The folder of Bot Audit's own files beside the database. */
  get dataDir(): string {
    return path.dirname(this.dbPath) || path.join(this.root, DATA_DIR);
  }

  override dispose(): void {
    void this.close();
    super.dispose();
  }
}
