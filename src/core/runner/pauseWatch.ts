// When a debugged bot is paused (issue 21: "the bot's time limit is suspended while it is paused").
//
// The host opens a DevTools protocol session of its own on the bot's inspector (Node's inspector
// serves several sessions at once), before it hands the address to the debugger, and listens for
// `Debugger.paused` / `Debugger.resumed`. V8 sends those to every session with the Debugger domain
// on whenever the bot's thread stops or goes on, whichever session (VS Code's js-debug, Chrome, …)
// caused it. So the runner's clock stops only when the bot's thread really is stopped, as the
// host sees it from outside the bot's process: nothing the bot's code writes can fake it (its
// channel carries no such message, and node:inspector and process.binding are closed to it).
//
// Turning the Debugger domain on in a session makes V8 stop at `debugger;` statements and
// breakpoints. This session turns its breakpoints off (`Debugger.setBreakpointsActive(false)`): V8
// counts the sessions whose breakpoints are active, and with none (no debugger attached, or the
// debugger gone), a `debugger;` statement in the bot does nothing, as in any run. So a bot cannot
// stop itself to escape its limit, unless it drives its own inspector from outside over the network
// (with the CLI's HTTP listing, or the address): a real pause, shown by the debugger attached.
//
// The session speaks over `ws` (bundled): Node 20, the extension host's Node in VS Code 1.100, has
// no WebSocket of its own.
import WebSocket from 'ws';

export interface PauseWatch {
  /** The bot's thread is stopped by a debugger now. */
  readonly paused: boolean;
  /**
   * Each change: stopped (with V8's reason: `other`, `exception`, …; `instrumentation` for a stop at
   * the first statement of a script, where debuggers stop to read its source map) or running again.
   */
  onChange?: (paused: boolean, reason?: string) => void;
  /** Set when the session ended (the process went, or close()). */
  readonly closed: boolean;
  close(): void;
}

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens a session on the inspector at `url` (`ws://127.0.0.1:PORT/UUID`), turns the Debugger domain
 * on with its breakpoints off, and resolves once V8 has answered both: from then on, every pause is
 * seen. Rejects when the inspector cannot be reached or refuses.
 */
export function watchPauses(url: string): Promise<PauseWatch> {
  const u = new URL(url);
  if (u.protocol !== 'ws:') return Promise.reject(new Error(`not a ws: address: ${url}`));
  return new Promise<PauseWatch>((resolve, reject) => {
    let settled = false;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    const socket = new WebSocket(url, { handshakeTimeout: CONNECT_TIMEOUT_MS, perMessageDeflate: false });
    socket.on('error', (e) => fail(new Error(`the inspector at ${u.host} could not be reached: ${e.message}`)));
    socket.on('unexpected-response', (_req, res) => {
      res.resume();
      socket.terminate();
      fail(new Error(`the inspector at ${u.host} refused the session (HTTP ${res.statusCode})`));
    });
    socket.on('open', () => {
      const watch = new Session(socket);
      watch
        .start()
        .then(() => {
          if (settled) return watch.close();
          settled = true;
          resolve(watch);
        })
        .catch((e: Error) => {
          watch.close();
          fail(e);
        });
    });
  });
}

class Session implements PauseWatch {
  paused = false;
  closed = false;
  onChange?: (paused: boolean, reason?: string) => void;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(private readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      if (!isBinary) this.message(data.toString());
    });
    socket.on('error', () => undefined);
    // The session ends with the bot's process (its inspector closes the socket), or with close().
    socket.on('close', () => this.ended());
  }

  async start(): Promise<void> {
    await this.call('Debugger.enable', {});
    // No pause of this session's making: with no debugger's session active, `debugger;` does nothing.
    await this.call('Debugger.setBreakpointsActive', { active: false });
  }

  close(): void {
    if (this.closed) return;
    this.socket.terminate();
    this.ended();
  }

  private ended(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error('the inspector session closed'));
    this.pending.clear();
  }

  private call(method: string, params: object): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the inspector session closed'));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  private message(text: string): void {
    let m: {
      id?: number;
      method?: string;
      params?: { reason?: string; callFrames?: { functionName?: string; location?: { lineNumber?: number; columnNumber?: number } }[] };
      result?: unknown;
      error?: { message?: string };
    };
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      return;
    }
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new Error(`the inspector refused: ${m.error.message ?? JSON.stringify(m.error)}`));
      else p?.resolve(m.result);
      return;
    }
    if (m.method === 'Debugger.paused') {
      this.paused = true;
      // A debugger's instrumentation stop (js-debug's, before a script with a source map runs, to
      // read the map) reaches the other sessions as reason "other", at the first statement of the
      // script's top level: it is named as such here.
      const top = m.params?.callFrames?.[0];
      const atScriptStart = top?.functionName === '' && top.location?.lineNumber === 0 && top.location.columnNumber === 0;
      this.onChange?.(true, m.params?.reason === 'other' && atScriptStart ? 'instrumentation' : m.params?.reason);
    } else if (m.method === 'Debugger.resumed') {
      this.paused = false;
      this.onChange?.(false);
    }
  }
}
