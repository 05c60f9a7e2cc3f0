// Messages between FhirHost (the runner's side) and the FHIR server's thread (thread.ts).
import type { WireRequest, WireResponse } from './server';

export interface ThreadRequestContext {
  user: string;
  bot?: string;
  onBehalfOf?: string;
  traceId?: string;
  /** The run's secret values, masked in the snapshots of its changes. */
  secrets: string[];
}

export type ChildResult = { status: number; body: unknown; contentType?: string };

export type HostToThread =
  | { t: 'open'; id: number; file: string; wasmPath?: string; binaryDir?: string; definitionsDir?: string }
  | { t: 'fetch'; id: number; req: WireRequest; ctx: ThreadRequestContext }
  | { t: 'child-result'; callId: number; result?: ChildResult; error?: string }
  | { t: 'flush'; id: number }
  | { t: 'close'; id: number };

export type ThreadToHost =
  | { t: 'reply'; id: number; ok: boolean; value?: WireResponse; error?: string }
  | { t: 'log'; id: number; level: 'info' | 'warn'; text: string }
  | { t: 'child'; id: number; callId: number; ref: { id?: string; identifier?: string }; body: unknown; contentType: string };
