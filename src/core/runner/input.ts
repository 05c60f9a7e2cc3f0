// Parses a run's input for its content type on the host, before any bot code starts: input that
// does not parse is refused (outcome 4, kind bad-input). HL7 v2 is checked with @medplum/core's
// Hl7Message.parse here and parsed again inside the worker, so the bot gets a real Hl7Message.
import { CONTENT_TYPES } from '../bots/config';
import { loadCore } from '../fhir/platform';

/** What the worker needs to rebuild the input inside the bot's context. */
export type WireInput =
  | { kind: 'none' }
  | { kind: 'json'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'hl7'; text: string };

export type ParsedInput =
  | { ok: true; wire: WireInput; /** The input as stored for replay (JSON text or the text). */ stored?: string }
  | { ok: false; reason: string };

const JSON_TYPES = new Set<string>([CONTENT_TYPES.JSON, CONTENT_TYPES.FHIR_JSON]);

/** The media type without parameters, lower-cased: `application/json; charset=utf-8` → `application/json`. */
export function baseContentType(contentType: string): string {
  return contentType.split(';')[0].trim().toLowerCase();
}

export function isJsonContentType(contentType: string): boolean {
  const t = baseContentType(contentType);
  return JSON_TYPES.has(t) || t.endsWith('+json');
}

type Core = typeof import('@medplum/core');
function medplumCore(): Core {
  // Loaded on first HL7 input only, with what it needs of the platform (see platform.ts).
  return loadCore();
}

/**
 * `input` is a value (already parsed); `inputText` is raw text to parse for the content type.
 * When both are given, `inputText` wins.
 */
export function parseRunInput(contentType: string, input: unknown, inputText?: string): ParsedInput {
  const type = baseContentType(contentType);
  if (inputText === undefined && input === undefined) return { ok: true, wire: { kind: 'none' } };
  if (isJsonContentType(type)) {
    let value: unknown;
    let text: string;
    if (inputText !== undefined) {
      try {
        value = JSON.parse(inputText);
      } catch (e) {
        return { ok: false, reason: `Input is not valid JSON for ${type}: ${(e as Error).message}` };
      }
      text = JSON.stringify(value);
    } else {
      try {
        text = JSON.stringify(input);
      } catch (e) {
        return { ok: false, reason: `Input cannot be written as JSON: ${(e as Error).message}` };
      }
      if (text === undefined) return { ok: false, reason: `Input of type ${typeof input} cannot be written as JSON` };
      value = input;
    }
    if (type === CONTENT_TYPES.FHIR_JSON) {
      const v = value as { resourceType?: unknown } | null;
      if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof v.resourceType !== 'string' || !/^[A-Z][A-Za-z]+$/.test(v.resourceType)) {
        return { ok: false, reason: 'Input is not a FHIR resource: application/fhir+json needs an object with a resourceType' };
      }
    }
    return { ok: true, wire: { kind: 'json', text }, stored: text };
  }
  const text = inputText ?? input;
  if (typeof text !== 'string') {
    return { ok: false, reason: `Input for ${type || 'this content type'} must be text, got ${input === null ? 'null' : typeof input}` };
  }
  if (type === CONTENT_TYPES.HL7_V2) {
    const normalized = text.replace(/\r\n|\n/g, '\r').replace(/\r+$/, '');
    if (!normalized.startsWith('MSH')) return { ok: false, reason: 'Input is not an HL7 v2 message: it must start with an MSH segment' };
    try {
      medplumCore().Hl7Message.parse(normalized);
    } catch (e) {
      return { ok: false, reason: `Input is not a valid HL7 v2 message: ${(e as Error).message}` };
    }
    return { ok: true, wire: { kind: 'hl7', text: normalized }, stored: text };
  }
  return { ok: true, wire: { kind: 'text', text }, stored: text };
}
