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
// A minimal WebSocket client (RFC 6455: a text frame each way, masked from the client) over
// node:http: Node 20, the extension host's Node in VS Code 1.100, has no WebSocket of its own, and
// the extension takes no dependency for it.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { Socket } from 'node:net';

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

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens a session on the inspector at `url` (`ws://127.0.0.1:PORT/UUID`), turns the Debugger domain
 * on with its breakpoints off, and resolves once V8 has answered both: from then on, every pause is
 * seen. Rejects when the inspector cannot be reached or refuses.
 */
export function watchPauses(url: string): Promise<PauseWatch> {
  const u = new URL(url);
  if (u.protocol !== 'ws:') return Promise.reject(new Error(`not a ws: address: ${url}`));
  const key = crypto.randomBytes(16).toString('base64');
  return new Promise<PauseWatch>((resolve, reject) => {
    let settled = false;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    const req = http.request({
      host: u.hostname,
      port: Number(u.port),
      path: u.pathname + u.search,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key },
      timeout: CONNECT_TIMEOUT_MS,
    });
    req.on('timeout', () => {
      req.destroy();
      fail(new Error(`the inspector at ${u.host} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`));
    });
    req.on('error', (e) => fail(new Error(`the inspector at ${u.host} could not be reached: ${e.message}`)));
    req.on('response', (res) => {
      res.resume();
      fail(new Error(`the inspector at ${u.host} refused the session (HTTP ${res.statusCode})`));
    });
    req.on('upgrade', (res, socket, head) => {
      const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) {
        socket.destroy();
        return fail(new Error(`the inspector at ${u.host} answered the session with a wrong key`));
      }
      const watch = new Session(socket, head);
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
    req.end();
  });
}

class Session implements PauseWatch {
  paused = false;
  closed = false;
  onChange?: (paused: boolean, reason?: string) => void;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];

  constructor(
    private readonly socket: Socket,
    head: Buffer,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.read(d));
    socket.on('error', () => undefined);
    socket.on('close', () => this.ended());
    // Its socket does not keep the host alive (the bot's process does, while it runs).
    socket.unref();
    if (head.length) this.read(head);
  }

  async start(): Promise<void> {
    await this.call('Debugger.enable', {});
    // No pause of this session's making: with no debugger's session active, `debugger;` does nothing.
    await this.call('Debugger.setBreakpointsActive', { active: false });
  }

  close(): void {
    if (this.closed) return;
    try {
      this.socket.end(frame(0x8, Buffer.alloc(0)));
    } catch {
      /* gone */
    }
    this.socket.destroy();
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
      this.socket.write(frame(0x1, Buffer.from(JSON.stringify({ id, method, params }), 'utf8')));
    });
  }

  private read(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0];
      const b1 = this.buf[1];
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const maskAt = off;
      if (masked) off += 4;
      if (this.buf.length < off + len) return;
      let payload = this.buf.subarray(off, off + len);
      if (masked) {
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i] ^= this.buf[maskAt + (i & 3)];
      }
      this.buf = this.buf.subarray(off + len);
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 0x8) return this.close();
      if (opcode === 0x9) {
        this.socket.write(frame(0xa, payload));
        continue;
      }
      if (opcode === 0xa) continue;
      if (opcode === 0x1 || opcode === 0x0) {
        this.fragments.push(Buffer.from(payload));
        if (!fin) continue;
        const text = Buffer.concat(this.fragments).toString('utf8');
        this.fragments = [];
        this.message(text);
      }
    }
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

/** One unfragmented frame from the client (masked, as RFC 6455 requires). */
function frame(opcode: number, payload: Buffer): Buffer {
  const mask = crypto.randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  mask.copy(out, head);
  for (let i = 0; i < len; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}
