// What @medplum/core needs of the platform, on every Node that Bot Audit runs on.
//
// @medplum/core 5 reads `WebSocket.CLOSING` and `WebSocket.CLOSED` in its module body. Node 22+
// has a global WebSocket; Node 20 (VS Code 1.100's extension host, and the CLI there) has it
// only behind a flag. Where it is missing, a stand-in with the standard constants is installed:
// enough for the module to load; opening a connection fails with a plain error. Nothing that
// runs locally opens one (subscriptions need a Medplum server).

type Core = typeof import('@medplum/core');

/** The base URL of the local FHIR server, as the bot's client and `event.baseUrl` see it. Never resolves (`.invalid`). */
export const LOCAL_BASE_URL = 'https://medplum.bot-audit.invalid/';

/** A WebSocket class without connections: the constants, and a constructor that says why it fails. */
class UnavailableWebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  constructor(url?: string | URL) {
    super();
    throw new Error(`WebSocket connections are not available on Node ${process.versions.node} (Node 22 or newer has them)${url ? `: ${String(url)}` : ''}`);
  }
}

/** The platform's WebSocket, or the stand-in (installed globally) where there is none. */
export function ensureWebSocket(): typeof globalThis.WebSocket {
  const g = globalThis as { WebSocket?: typeof globalThis.WebSocket };
  g.WebSocket ??= UnavailableWebSocket as unknown as typeof globalThis.WebSocket;
  return g.WebSocket;
}

let coreModule: Core | undefined;

/** @medplum/core, loaded on first use (it is large), with what it needs of the platform. */
export function loadCore(): Core {
  if (!coreModule) {
    ensureWebSocket();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    coreModule = require('@medplum/core') as Core;
  }
  return coreModule;
}
