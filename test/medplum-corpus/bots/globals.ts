// The globals Medplum's vmcontext gives a bot. It imports nothing: everything here is global.
declare const ContentType: Record<string, string>;
declare const Hl7Message: { parse(text: string): { getSegment(name: string): { getField(i: number): { toString(): string } } | undefined } };
declare const MedplumClient: abstract new (...args: never[]) => unknown;
declare const require: (id: string) => unknown;

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

export async function handler(medplum: { getBaseUrl(): string }, event: { baseUrl: string }): Promise<unknown> {
  const names = ['fetch', 'Headers', 'Request', 'Response', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'TextEncoderStream', 'TextDecoderStream',
    'ReadableStream', 'WritableStream', 'TransformStream', 'WebSocket', 'ContentType', 'Hl7Message', 'MedplumClient', 'require'];
  const g = globalThis as Record<string, unknown>;
  const missing = names.filter((n) => typeof g[n] === 'undefined' && !(n === 'require' && typeof require === 'function'));
  check(missing.length === 0, `missing globals: ${missing.join(', ')}`);

  check(medplum instanceof MedplumClient, 'the first argument is not an instance of the global MedplumClient');
  check(ContentType.FHIR_JSON === 'application/fhir+json' && ContentType.HL7_V2 === 'x-application/hl7-v2+er7', 'ContentType has the wrong values');
  const msg = Hl7Message.parse('MSH|^~\\&|A|B|C|D|20240101||ADT^A08|42|P|2.5\rPID|1||7');
  check(msg.getSegment('MSH')?.getField(10).toString() === '42', 'Hl7Message.parse: MSH-10 is not 42');

  const u = new URL('fhir/R4/Patient?_count=1', event.baseUrl);
  check(new URLSearchParams(u.search).get('_count') === '1', 'URL / URLSearchParams');
  const headers = new Headers({ Accept: 'application/fhir+json' });
  const res = await fetch(new Request(u.toString(), { headers }));
  check(res.status === 200, `fetch(${u}) answered ${res.status}`);
  const bundle = (await res.json()) as { resourceType?: string };
  check(bundle.resourceType === 'Bundle', `fetch: expected a Bundle, got ${JSON.stringify(bundle).slice(0, 200)}`);
  check((await new Response('pong').text()) === 'pong', 'Response.text()');

  const bytes = new TextEncoder().encode('héllo');
  check(bytes.length === 6 && new TextDecoder().decode(bytes) === 'héllo', 'TextEncoder / TextDecoder');
  const upper = new TransformStream<string, string>({ transform: (chunk, ctl) => ctl.enqueue(chunk.toUpperCase()) });
  const source = new ReadableStream<string>({
    start(ctl) {
      ctl.enqueue('stream ');
      ctl.enqueue('me');
      ctl.close();
    },
  });
  const chunks: string[] = [];
  await source
    .pipeThrough(upper)
    .pipeThrough(new TextEncoderStream())
    .pipeThrough(new TextDecoderStream())
    .pipeTo(new WritableStream<string>({ write: (c) => void chunks.push(c) }));
  check(chunks.join('') === 'STREAM ME', `streams: got ${JSON.stringify(chunks)}`);

  const WS = g.WebSocket as { OPEN?: number; CLOSED?: number };
  check(WS.OPEN === 1 && WS.CLOSED === 3, 'WebSocket constants');
  const path = require('node:path') as { posix: { join(...p: string[]): string } };
  check(path.posix.join('a', 'b') === 'a/b', "require('node:path')");
  check(medplum.getBaseUrl() === event.baseUrl, 'medplum.getBaseUrl() is event.baseUrl');
  return { ok: true, globals: names.length };
}
