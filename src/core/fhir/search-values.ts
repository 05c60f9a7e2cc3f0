// The values of a resource for one search parameter, as the search engine (search.ts) compares
// them: tokens, strings, date ranges, numbers, quantities, references and URIs, each computed once
// per resource object and kept in a WeakMap (the SearchSource never mutates a resource: a changed
// resource is a new object).
//
// A parameter's values are what its FHIRPath expression yields for the resource's type (with
// @medplum/core's evalFhirPathTyped, about 5 to 15 µs a resource), except where that expression
// is a plain path such as `Observation.code`, `Observation.effective` or
// `Observation.value.ofType(Quantity)`: those are read straight from the object, with the element
// types of the structure definitions (about 0.2 µs), giving the same typed values.
import './globals';
import {
  capitalize,
  evalFhirPathTyped,
  formatAddress,
  getElementDefinition,
  getExpressionForResourceType,
  getSearchParameterDetails,
  parseFhirPath,
  toTypedValue,
  type FhirPathAtom,
  type TypedValue,
} from '@medplum/core';
import type { Address, HumanName, Resource, SearchParameter } from '@medplum/fhirtypes';

/** The typed values of a parameter for a resource. */
export type Extract = (r: Resource) => TypedValue[];

type Step = { name: string; keys?: [key: string, type: string][] };
type Branch = { steps: Step[]; type?: string; empty?: boolean };

/** Element types a plain path may end on or pass through without losing FHIRPath's typing. */
const UNPLANNABLE = new Set(['Element', 'BackboneElement', 'Resource', 'Extension']);

/**
 * Reads a plain path expression (`Type.a.b`, `Type.a.ofType(X)`, `Type.a as X`, unions of those)
 * into steps over the element definitions, or undefined when it is anything else.
 */
export function planPath(resourceType: string, expression: string): Branch[] | undefined {
  const branches: Branch[] = [];
  for (let part of expression.split(' | ')) {
    part = part.trim();
    while (part.startsWith('(') && part.endsWith(')')) part = part.slice(1, -1).trim();
    const m = /^([A-Z][A-Za-z]+)((?:\.[a-z][A-Za-z0-9]*)+)(?:\.ofType\(([A-Za-z]+)\)|\.as\(([A-Za-z]+)\)| as ([A-Za-z]+))?$/.exec(part);
    if (!m || m[1] !== resourceType) return undefined;
    const ofType = m[3] ?? m[4] ?? m[5];
    const names = m[2].slice(1).split('.');
    const branch: Branch = { steps: [] };
    let base = resourceType;
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const last = i === names.length - 1;
      const el = getElementDefinition(base, name);
      const types = el?.type?.map((t) => t.code) ?? [];
      if (!el || !types.length || types.some((t) => !t || t.includes('/') || UNPLANNABLE.has(t))) return undefined;
      if (el.path.endsWith('[x]')) {
        if (!last) return undefined;
        const wanted = ofType ? types.filter((t) => t === ofType) : types;
        if (!wanted.length) branch.empty = true;
        branch.steps.push({ name, keys: wanted.map((t) => [name + capitalize(t), t]) });
      } else {
        if (types.length !== 1) return undefined;
        branch.steps.push({ name });
        if (last) {
          if (ofType && ofType !== types[0]) branch.empty = true;
          branch.type = types[0];
        } else base = types[0];
      }
    }
    if (!branch.empty) branches.push(branch);
  }
  return branches;
}

function push(out: unknown[], v: unknown): void {
  if (v === undefined || v === null) return;
  if (Array.isArray(v)) {
    for (const x of v) if (x !== undefined && x !== null) out.push(x);
  } else out.push(v);
}

function addTyped(out: TypedValue[], v: unknown, type: string): void {
  if (v === undefined || v === null) return;
  if (Array.isArray(v)) {
    for (const x of v) if (x !== undefined && x !== null) out.push({ type, value: x });
  } else out.push({ type, value: v });
}

/** Evaluates planned branches on a resource. */
export function evalPlan(r: Resource, branches: Branch[]): TypedValue[] {
  const out: TypedValue[] = [];
  if (branches.length === 1 && branches[0].steps.length === 1) {
    // `Type.element`: the common case, without intermediate lists.
    const b = branches[0];
    const step = b.steps[0];
    const rec = r as unknown as Record<string, unknown>;
    if (step.keys) for (const [k, t] of step.keys) addTyped(out, rec[k], t);
    else addTyped(out, rec[step.name], b.type as string);
    return out;
  }
  for (const b of branches) {
    let cur: unknown[] = [r];
    const n = b.steps.length;
    for (let i = 0; i < n - 1 && cur.length; i++) {
      const next: unknown[] = [];
      const name = b.steps[i].name;
      for (const o of cur) if (typeof o === 'object') push(next, (o as Record<string, unknown>)[name]);
      cur = next;
    }
    const last = b.steps[n - 1];
    for (const o of cur) {
      if (typeof o !== 'object') continue;
      const rec = o as Record<string, unknown>;
      if (last.keys) for (const [k, t] of last.keys) addTyped(out, rec[k], t);
      else addTyped(out, rec[last.name], b.type as string);
    }
  }
  return out;
}

const extractors = new Map<string, Extract>();

/** The expression of a parameter for one resource type (the parameter's may cover many). */
export function expressionFor(resourceType: string, sp: SearchParameter): string | undefined {
  if (!sp.expression) return undefined;
  try {
    return getExpressionForResourceType(resourceType, sp.expression) ?? sp.expression;
  } catch {
    return sp.expression;
  }
}

/** How to get a parameter's typed values for resources of a type: a planned path, else FHIRPath. */
export function extractor(resourceType: string, sp: SearchParameter): Extract {
  const key = `${resourceType}\u0000${sp.code}\u0000${sp.expression}`;
  let x = extractors.get(key);
  if (x) return x;
  const expr = expressionFor(resourceType, sp);
  let plan: Branch[] | undefined;
  try {
    plan = expr ? planPath(resourceType, expr) : [];
  } catch {
    plan = undefined;
  }
  if (plan) {
    const p = plan;
    x = p.length ? (r) => evalPlan(r, p) : () => [];
  } else {
    let atom: FhirPathAtom | string;
    try {
      atom = getSearchParameterDetails(resourceType, sp).parsedExpression;
    } catch {
      atom = parseFhirPath(expr as string);
    }
    x = (r) => evalFhirPathTyped(atom, [toTypedValue(r)]);
  }
  extractors.set(key, x);
  return x;
}

// ------------------------------------------------------------------ memo

/**
 * What was computed for each resource object: values by memo index, in one WeakMap for all
 * parameters (one lookup per resource and parameter, one identity hash per object).
 */
const memos = new WeakMap<object, unknown[]>();
const memoKeys = new Map<string, number>();

/** `compute(r)`, once per resource object, under `key` (what it computes, for which type and parameter). */
export function memoized<V>(key: string, compute: (r: Resource) => V): (r: Resource) => V {
  let idx = memoKeys.get(key);
  if (idx === undefined) memoKeys.set(key, (idx = memoKeys.size));
  const i = idx;
  return (r) => {
    let slot = memos.get(r);
    if (slot === undefined) memos.set(r, (slot = []));
    let v = slot[i] as V | undefined;
    if (v === undefined) slot[i] = v = compute(r);
    return v;
  };
}

// ------------------------------------------------------------------ tokens

/** System of the tokens that are texts (CodeableConcept.text, Coding.display, Identifier.type.text). */
const TEXT = '\u0004';

/** Tokens as a flat list of system, value, system, value, ... (system TEXT for texts, undefined for none). */
export type TokenValues = (string | undefined)[];

function addToken(out: TokenValues, system: unknown, value: unknown, ci: boolean): void {
  const s = typeof system === 'string' && system ? system : undefined;
  let v = value === undefined || value === null ? undefined : String(value).trim() || undefined;
  if (!s && !v) return;
  if (v && ci && s !== TEXT) v = v.toLowerCase();
  if (s === TEXT && !v) return;
  out.push(s, v);
}

function addCoding(out: TokenValues, c: Record<string, any>, ci: boolean): void {
  if (typeof c.display === 'string') addToken(out, TEXT, c.display, false);
  addToken(out, c.system, c.code, ci);
}

/** Tokens as Medplum's server indexes them (its `buildTokensForSearchParameter`). */
export function toTokens(values: TypedValue[], ci: boolean): TokenValues {
  const out: TokenValues = [];
  for (const { type, value } of values) {
    if (value === undefined || value === null) continue;
    if (typeof value !== 'object') {
      addToken(out, undefined, String(value), ci);
      continue;
    }
    const o = value as Record<string, any>;
    if (type === 'CodeableConcept' || (type !== 'Coding' && Array.isArray(o.coding))) {
      if (typeof o.text === 'string') addToken(out, TEXT, o.text, false);
      if (Array.isArray(o.coding)) for (const c of o.coding) if (c && typeof c === 'object') addCoding(out, c, ci);
    } else if (type === 'Coding' || 'code' in o) {
      addCoding(out, o, ci);
    } else if (type === 'ContactPoint') {
      addToken(out, o.system, typeof o.value === 'string' ? o.value.toLowerCase() : o.value, ci);
    } else if (type === 'Identifier' || 'value' in o || 'system' in o) {
      if (typeof o.type?.text === 'string') addToken(out, TEXT, o.type.text, false);
      addToken(out, o.system, o.value, ci);
    }
  }
  return out;
}

/**
 * The test of one token search value on a resource's tokens: `code` (any system; texts too, as
 * Medplum matches CodeableConcept.text exactly), `system|code`, `|code` (no system), `system|`;
 * undefined when the value matches nothing (`|`, empty).
 */
export function tokenTest(q: string, ci: boolean): ((t: TokenValues) => boolean) | undefined {
  q = q.trim();
  const bar = q.indexOf('|');
  if (bar < 0) {
    if (!q) return undefined;
    const v = ci ? q.toLowerCase() : q;
    return (t) => {
      for (let i = 1; i < t.length; i += 2) if (t[i] === v) return true;
      return false;
    };
  }
  const s = q.slice(0, bar).trim();
  let v = q.slice(bar + 1).trim();
  if (ci) v = v.toLowerCase();
  if (!s && !v) return undefined;
  if (!s) {
    return (t) => {
      for (let i = 1; i < t.length; i += 2) if (t[i] === v && t[i - 1] === undefined) return true;
      return false;
    };
  }
  if (!v) {
    return (t) => {
      for (let i = 0; i < t.length; i += 2) if (t[i] === s) return true;
      return false;
    };
  }
  return (t) => {
    for (let i = 1; i < t.length; i += 2) if (t[i] === v && t[i - 1] === s) return true;
    return false;
  };
}

/** The tokens' values: codes only, or texts only. */
export function tokenValues(t: TokenValues, texts: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < t.length; i += 2) if ((t[i] === TEXT) === texts && t[i + 1]) out.push(t[i + 1] as string);
  return out;
}

// ------------------------------------------------------------------ strings

export interface StringValues {
  raw: string[];
  norm: string[];
}

/** Case- and accent-insensitive form, as FHIR string search compares. */
export function normalizeString(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\u0000-\u007f]*$/.test(s)) return s.toLowerCase();
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

function addString(raw: string[], s: unknown): void {
  if (typeof s === 'string' && s && !raw.includes(s)) raw.push(s);
}

function stringLeaves(raw: string[], v: unknown, depth = 0): void {
  if (typeof v === 'string') addString(raw, v);
  else if (v && typeof v === 'object' && depth < 6) for (const x of Object.values(v)) stringLeaves(raw, x, depth + 1);
}

/** Strings of a parameter: HumanName and Address by their parts and as a whole; other types by their text. */
export function toStrings(values: TypedValue[]): StringValues {
  const raw: string[] = [];
  for (const { type, value } of values) {
    if (value === undefined || value === null) continue;
    if (typeof value !== 'object') {
      addString(raw, String(value));
    } else if (type === 'HumanName') {
      const n = value as HumanName;
      addString(raw, n.text);
      addString(raw, n.family);
      for (const x of [...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])]) addString(raw, x);
      addString(raw, [...(n.given ?? []), n.family].filter(Boolean).join(' '));
      addString(raw, [...(n.prefix ?? []), ...(n.given ?? []), n.family, ...(n.suffix ?? [])].filter(Boolean).join(' '));
    } else if (type === 'Address') {
      const a = value as Address;
      addString(raw, a.text);
      for (const x of [...(a.line ?? []), a.city, a.district, a.state, a.postalCode, a.country]) addString(raw, x);
      addString(raw, formatAddress(a));
    } else {
      stringLeaves(raw, value);
    }
  }
  return { raw, norm: raw.map(normalizeString) };
}

// ------------------------------------------------------------------ dates

function utc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  if (y >= 100) return Date.UTC(y, mo, d, h, mi, s, ms);
  // Date.UTC reads years 0-99 as 1900-1999; overflowing months and days still carry into the year.
  const t = new Date(Date.UTC(2000, mo, d, h, mi, s, ms));
  t.setUTCFullYear(y + t.getUTCFullYear() - 2000);
  return t.getTime();
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The time a FHIR date, dateTime or instant covers, as [first ms, last ms]: `2024` is the whole
 * year, `2024-01-15` the whole day, `2024-01-15T10:00:00Z` that second (UTC when no zone is given).
 */
export function dateRange(s: string): [number, number] | undefined {
  const m = DATE_RE.exec(s.trim());
  if (!m) return undefined;
  const y = +m[1];
  const mo = m[2] ? +m[2] - 1 : 0;
  const d = m[3] ? +m[3] : 1;
  const h = m[4] ? +m[4] : 0;
  const mi = m[5] ? +m[5] : 0;
  const sec = m[6] ? +m[6] : 0;
  const frac = m[7] ?? '';
  const ms = frac ? Math.floor(+(frac + '000').slice(0, 3)) : 0;
  if (mo > 11 || d > 31 || h > 23 || mi > 59 || sec > 59) return undefined;
  let offset = 0;
  const z = m[8];
  if (z && z !== 'Z') offset = (z[0] === '-' ? -1 : 1) * (+z.slice(1, 3) * 60 + +z.slice(4, 6)) * 60000;
  const start = utc(y, mo, d, h, mi, sec, ms) - offset;
  let end: number;
  if (!m[2]) end = utc(y + 1, 0, 1, 0, 0, 0, 0) - 1;
  else if (!m[3]) end = utc(y, mo + 1, 1, 0, 0, 0, 0) - 1;
  else if (!m[4]) end = utc(y, mo, d + 1, 0, 0, 0, 0) - 1;
  else if (!m[6]) end = start + 59_999;
  else if (!frac) end = start + 999;
  else end = start + (frac.length >= 3 ? 0 : 10 ** (3 - frac.length) - 1);
  return [start, end];
}

function addRange(out: number[], v: unknown): void {
  if (typeof v === 'string') {
    const r = dateRange(v);
    if (r) out.push(r[0], r[1]);
  } else if (v && typeof v === 'object') {
    const o = v as Record<string, any>;
    if ('start' in o || 'end' in o) {
      const s = typeof o.start === 'string' ? dateRange(o.start) : undefined;
      const e = typeof o.end === 'string' ? dateRange(o.end) : undefined;
      if (s || e) out.push(s ? s[0] : -Infinity, e ? e[1] : Infinity);
    } else if (Array.isArray(o.event)) {
      for (const ev of o.event) addRange(out, ev);
    }
  }
}

/** Date values as flat [start, end, start, end, ...] in ms (open ends ±Infinity). */
export function toDates(values: TypedValue[]): number[] {
  const out: number[] = [];
  for (const { value } of values) addRange(out, value);
  return out;
}

// ------------------------------------------------------------------ numbers and quantities

/** Number values as flat [low, high, ...] (a Range's bounds; a plain number is both). */
export function toNumbers(values: TypedValue[]): number[] {
  const out: number[] = [];
  for (const { value } of values) {
    if (typeof value === 'number') out.push(value, value);
    else if (value && typeof value === 'object') {
      const o = value as Record<string, any>;
      if (typeof o.value === 'number') out.push(o.value, o.value);
      else if (o.low || o.high) out.push(typeof o.low?.value === 'number' ? o.low.value : -Infinity, typeof o.high?.value === 'number' ? o.high.value : Infinity);
    }
  }
  return out;
}

export interface QuantityValue {
  v: number;
  system?: string;
  code?: string;
  unit?: string;
}

/** Quantities (also Money: its currency as code, and plain numbers without unit). */
export function toQuantities(values: TypedValue[]): QuantityValue[] {
  const out: QuantityValue[] = [];
  for (const { value } of values) {
    if (typeof value === 'number') out.push({ v: value });
    else if (value && typeof value === 'object') {
      const o = value as Record<string, any>;
      if (typeof o.value === 'number') out.push({ v: o.value, system: o.system, code: o.code ?? o.currency, unit: o.unit });
    }
  }
  return out;
}

// ------------------------------------------------------------------ references and URIs

const REF_TAIL = /(?:^|\/)([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/;

/** `Type/id` for a relative, absolute or versioned literal reference; other strings as they are. */
export function normalizeReference(ref: string): string {
  let s = ref.trim();
  const h = s.indexOf('/_history/');
  if (h > 0) s = s.slice(0, h);
  const m = REF_TAIL.exec(s);
  return m ? m[1] : s;
}

export interface ReferenceValues {
  /** Normalized literal references (`Type/id`), and canonical URLs as they are. */
  refs: string[];
  /** Tokens of logical references' identifiers (for :identifier). */
  identifiers: TokenValues;
  present: boolean;
}

export function toReferences(values: TypedValue[], canonical: boolean): ReferenceValues {
  const out: ReferenceValues = { refs: [], identifiers: [], present: false };
  for (const { value } of values) {
    if (value === undefined || value === null) continue;
    if (typeof value === 'string') {
      out.refs.push(canonical ? value : normalizeReference(value));
      out.present = true;
    } else if (typeof value === 'object') {
      const o = value as Record<string, any>;
      if (typeof o.reference === 'string') {
        out.refs.push(normalizeReference(o.reference));
        out.present = true;
      } else if (typeof o.resourceType === 'string' && typeof o.id === 'string') {
        out.refs.push(`${o.resourceType}/${o.id}`);
        out.present = true;
      }
      if (o.identifier && typeof o.identifier === 'object') {
        addToken(out.identifiers, o.identifier.system, o.identifier.value, false);
        out.present = true;
      }
    }
  }
  return out;
}

export function toUris(values: TypedValue[]): string[] {
  const out: string[] = [];
  for (const { value } of values) if (typeof value === 'string' && !out.includes(value)) out.push(value);
  return out;
}
