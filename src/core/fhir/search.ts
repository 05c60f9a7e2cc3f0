// FHIR search over the local resources, for the repository (repository.ts) that fhir-router's
// FhirRouter calls: runSearch takes the SearchRequest that @medplum/core's parseSearchRequest
// made and answers what Medplum's server would (packages/server/src/fhir/search.ts): the matches,
// sorted, paged, with a total when asked for, subset by _summary / _elements. _include and
// _revinclude are the repository's (fhir-router's getExtraEntries).
//
// Every filter is either evaluated or refused with a 400 OperationOutcome that names it: unlike
// @medplum/core's matchesSearchRequest, which answers "no match" for what it does not know
// (number, quantity, composite and chained parameters, _filter, most modifiers), a query that is
// not understood never comes back as an empty page.
//
// Semantics, following Medplum's server where it defines them (and FHIR R4 search otherwise):
//  - token: exact and case-sensitive on `code`, `system|code`, `|code`, `system|`; a bare code also
//    matches a CodeableConcept.text / Coding.display; ContactPoint parameters (email, phone,
//    telecom) are case-insensitive. :not (also resources without the element), :text (texts
//    contain, case-insensitive), :contains (codes or texts contain), :exact (= eq), :missing.
//    Boolean parameters take `true` / `false` only.
//  - string: starts with, case- and accent-insensitive, on each part of a HumanName / Address and
//    on the whole; :contains, :exact (case-sensitive equality), :missing.
//  - date: the ranges that the resource's value and the search value cover (`2024-01` is the whole
//    month), compared as instants: eq / ap overlap; ne: has a date, none overlaps; gt, lt, ge,
//    le, sa, eb.
//  - number, quantity: as numbers (Range values by their bounds); ap is ±10 %; ne as for dates; a quantity's
//    `|system|code` must match when given (Medplum's server ignores the unit; FHIR does not).
//  - reference: `Type/id` (relative, absolute or versioned references all compare as `Type/id`), or
//    a bare id; canonical URLs as they are (with or without `|version`); :identifier, :not, :missing.
//  - uri: equality; :above, :below, :not, :missing.
//  - composite (`code-value-quantity=http://loinc.org|8480-6$gt100`): every component on the same
//    element. (core's parseSearchRequest itself throws on composite parameters in a URL; they reach
//    here from _filter or a SearchRequest built by hand.)
//  - _id, _lastUpdated, _compartment (meta.compartment, the patient compartment of
//    compartmentdefinition-patient, meta.project), _profile, _tag, _security, _source, _project.
//  - chains: `subject:Patient.name=x`, `patient.identifier=...`, `_has:Observation:subject:code=...`,
//    up to three links, as Medplum allows; a forward link needs a single target or `:Type`.
//  - _filter: eq ne co sw ew gt lt ge le sa eb ap pr re identifier, `and` / `or` / `not(...)` and
//    parentheses, on any parameter or chain (see search-filter.ts).
//  - _sort on any of these parameters (not chains), several rules, `-` descending; dates and numbers
//    as values; a repeated element sorts by its first value in the requested order; resources
//    without a value come last either way.
//  - _count (default 20, at most 1000), _offset, _total (accurate / estimate: total; else none, as
//    Medplum's server), _summary (true, text, data, count), _elements (with mandatory elements).
// Refused with 400: unknown parameters and resource types, modifiers and prefixes a parameter
// type does not have (:above / :below on tokens and references, :in, :not-in, :of-type, :text
// on strings, sw on dates, ...), the special parameter `near`, _cursor, values that do not parse.
// Limits: core's parseSearchRequest drops an unknown modifier of a known parameter
// (`name:xyz=x` arrives as `name=x`) and the `:Type` of a reference (`subject:Patient=1` arrives
// as `subject=1`); checkSearchQuery refuses the former where the raw query is at hand.
import './globals';
import {
  formatSearchQuery,
  DEFAULT_MAX_SEARCH_COUNT,
  DEFAULT_SEARCH_COUNT,
  OperationOutcomeError,
  Operator,
  badRequest,
  evalFhirPathTyped,
  getDataType,
  getElementDefinition,
  getSearchParameterDetails,
  globalSchema,
  parseFhirPath,
  parseParameter,
  splitSearchOnComma,
  type FhirPathAtom,
  type Filter,
  type SearchParameterDetails,
  type SearchRequest,
  type SortRule,
  type TypedValue,
} from '@medplum/core';
import type { Bundle, BundleEntry, Resource, SearchParameter } from '@medplum/fhirtypes';
import { ENDS_WITH, parseFilter, type FilterNode, type FilterOperator } from './search-filter';
import { PATIENT_COMPARTMENT, SUMMARY_COMMON, SUMMARY_ELEMENTS } from './search-tables';
import {
  dateRange,
  expressionFor,
  extractor,
  memoized,
  normalizeReference,
  normalizeString,
  toDates,
  toNumbers,
  toQuantities,
  toReferences,
  toStrings,
  toTokens,
  toUris,
  tokenTest,
  tokenValues,
  type QuantityValue,
  type ReferenceValues,
  type StringValues,
  type TokenValues,
} from './search-values';

export interface SearchSource {
  /** The current resources of one type, in any order. The same object is returned for an unchanged resource, and objects are never mutated (so you may memoize per object, e.g. in a WeakMap). */
  all(resourceType: string): readonly Resource[];
  /** The current resource, or undefined. */
  get(resourceType: string, id: string): Resource | undefined;
}

const bad = (msg: string): OperationOutcomeError => new OperationOutcomeError(badRequest(msg));

/** A filter as compiled here: `fop` is the _filter operator it came from, for messages. */
type F = { code: string; operator: FilterOperator; value: string; fop?: string };
type Pred = (r: Resource) => boolean;
interface Compiled {
  test: Pred;
  /** Lower runs first. */
  cost: number;
}
interface Ctx {
  source: SearchSource;
}

const MODIFIERS = new Set<string>(['contains', 'exact', 'above', 'below', 'text', 'not', 'in', 'not-in', 'of-type', 'missing', 'present', 'identifier', 'iterate']);

function unsupported(f: F, type?: string): OperationOutcomeError {
  const of = type ? ` (a ${type} parameter)` : '';
  if (f.fop) return bad(`Unsupported _filter operator ${f.fop} for search parameter: ${f.code}${of}`);
  if (MODIFIERS.has(f.operator)) return bad(`Unsupported modifier: ${f.code}:${f.operator}${of}`);
  if (/^[a-z]{2}$/.test(f.operator)) return bad(`Unsupported prefix ${f.operator} for search parameter: ${f.code}${of}`);
  return bad(`Unsupported modifier: ${f.code}:${f.operator}${of}`);
}

function searchParam(resourceType: string, code: string): SearchParameter | undefined {
  const params = globalSchema.types[resourceType]?.searchParams;
  return params && Object.hasOwn(params, code) ? params[code] : undefined;
}

function detailsOf(resourceType: string, sp: SearchParameter): SearchParameterDetails | undefined {
  try {
    return getSearchParameterDetails(resourceType, sp);
  } catch {
    return undefined;
  }
}

/** `true` / `false` of :missing, :present and `pr`. */
function flag(f: F): boolean {
  if (f.value === 'true') return true;
  if (f.value === 'false') return false;
  throw bad(`Search filter ${f.code}:${f.fop ?? f.operator} must have a value of 'true' or 'false'`);
}

const values = (f: F): string[] => splitSearchOnComma(f.value);

// ------------------------------------------------------------------ values → matches

/** How one filter tests a parameter's converted values. */
interface Matcher<V> {
  /** Names the conversion (with what it depends on), for the memo. */
  kind: string;
  conv: (tv: TypedValue[]) => V;
  test: (v: V) => boolean;
}

function tokenMatcher(resourceType: string, sp: SearchParameter, f: F): Matcher<TokenValues> {
  const details = detailsOf(resourceType, sp);
  const ci = !!details?.elementDefinitions?.some((ed) => ed.type?.some((t) => t.code === 'ContactPoint'));
  const kind = `token${ci ? 'i' : ''}`;
  const conv = (tv: TypedValue[]): TokenValues => toTokens(tv, ci);
  const qs = values(f);
  switch (f.operator) {
    case Operator.EQUALS:
    case Operator.EXACT:
    case Operator.NOT:
    case Operator.NOT_EQUALS: {
      if (details?.type === 'BOOLEAN') {
        for (const q of qs) if (q !== 'true' && q !== 'false') throw bad(`Boolean search value must be 'true' or 'false': ${f.code}=${f.value}`);
      }
      const tests = qs.map((q) => tokenTest(q, ci)).filter((t): t is (v: TokenValues) => boolean => t !== undefined);
      const negated = f.operator === Operator.NOT || f.operator === Operator.NOT_EQUALS;
      const hit =
        tests.length === 1
          ? tests[0]
          : (v: TokenValues): boolean => {
              for (const t of tests) if (t(v)) return true;
              return false;
            };
      return { kind, conv, test: negated ? (v) => !hit(v) : hit };
    }
    case Operator.TEXT:
    case Operator.CONTAINS: {
      const ns = qs.map((q) => normalizeString(q.trim())).filter(Boolean);
      const texts = f.operator === Operator.TEXT;
      return {
        kind,
        conv,
        test: (v) => {
          const candidates = texts ? tokenValues(v, true) : [...tokenValues(v, false), ...tokenValues(v, true)];
          return candidates.some((s) => ns.some((q) => normalizeString(s).includes(q)));
        },
      };
    }
    default:
      throw unsupported(f, 'token');
  }
}

function stringMatcher(f: F): Matcher<StringValues> {
  const qs = values(f);
  const ns = qs.map(normalizeString);
  let test: (v: StringValues) => boolean;
  switch (f.operator) {
    case Operator.EQUALS:
    case Operator.STARTS_WITH:
      test = (v) => v.norm.some((s) => ns.some((q) => s.startsWith(q)));
      break;
    case Operator.CONTAINS:
      test = (v) => v.norm.some((s) => ns.some((q) => s.includes(q)));
      break;
    case ENDS_WITH:
      test = (v) => v.norm.some((s) => ns.some((q) => s.endsWith(q)));
      break;
    case Operator.EXACT:
      test = (v) => v.raw.some((s) => qs.includes(s));
      break;
    case Operator.NOT_EQUALS:
      test = (v) => !v.raw.some((s) => qs.includes(s));
      break;
    default:
      throw unsupported(f, 'string');
  }
  return { kind: 'string', conv: toStrings, test };
}

/** A date filter's ranges; a value that is not a FHIR date is a 400. */
function dateRanges(f: F): [number, number][] {
  return values(f).map((v) => {
    const r = dateRange(v);
    if (!r) throw bad(`Invalid date value for search parameter ${f.code}: ${v}`);
    return r;
  });
}

/** Compares one value range [s, e] with one search range [ps, pe]. */
function rangeTest(f: F, type: string): (s: number, e: number, ps: number, pe: number) => boolean {
  switch (f.operator) {
    case Operator.EQUALS:
    case Operator.EXACT:
    case Operator.APPROXIMATELY:
    case Operator.NOT_EQUALS:
      return (s, e, ps, pe) => s <= pe && e >= ps;
    case Operator.GREATER_THAN:
      return (_s, e, _ps, pe) => e > pe;
    case Operator.LESS_THAN:
      return (s, _e, ps) => s < ps;
    case Operator.GREATER_THAN_OR_EQUALS:
      return (_s, e, ps) => e >= ps;
    case Operator.LESS_THAN_OR_EQUALS:
      return (s, _e, _ps, pe) => s <= pe;
    case Operator.STARTS_AFTER:
      return (s, _e, _ps, pe) => s > pe;
    case Operator.ENDS_BEFORE:
      return (_s, e, ps) => e < ps;
    default:
      throw unsupported(f, type);
  }
}

/** Any value pair against any search range; `ne` is "has values, none equal". */
function pairsTest(f: F, ranges: [number, number][], type: string): (pairs: number[]) => boolean {
  const cmp = rangeTest(f, type);
  const any = (pairs: number[]): boolean => {
    for (let i = 0; i < pairs.length; i += 2) {
      for (const [ps, pe] of ranges) if (cmp(pairs[i], pairs[i + 1], ps, pe)) return true;
    }
    return false;
  };
  return f.operator === Operator.NOT_EQUALS ? (p) => p.length > 0 && !any(p) : any;
}

function dateMatcher(f: F): Matcher<number[]> {
  return { kind: 'date', conv: toDates, test: pairsTest(f, dateRanges(f), 'date') };
}

function numberValue(f: F, s: string): number {
  const n = s.trim() === '' ? Number.NaN : Number(s);
  if (!Number.isFinite(n)) throw bad(`Invalid number value for search parameter ${f.code}: ${s}`);
  return n;
}

/** A number's search range: itself, or ±10 % for ap. */
function numberRange(f: F, n: number): [number, number] {
  if (f.operator !== Operator.APPROXIMATELY) return [n, n];
  const a = n * 0.9;
  const b = n * 1.1;
  return a <= b ? [a, b] : [b, a];
}

function numberMatcher(f: F): Matcher<number[]> {
  const ranges = values(f).map((s) => numberRange(f, numberValue(f, s)));
  return { kind: 'number', conv: toNumbers, test: pairsTest(f, ranges, 'number') };
}

function quantityMatcher(f: F): Matcher<QuantityValue[]> {
  const alts = values(f).map((s) => {
    const [n, system, code] = [...s.split('|'), '', ''];
    const range = numberRange(f, numberValue(f, n));
    return { range, system: system || undefined, code: code || undefined };
  });
  const cmp = rangeTest(f, 'quantity');
  const any = (qs: QuantityValue[]): boolean =>
    qs.some((q) =>
      alts.some(
        (a) =>
          (!a.system || q.system === a.system) &&
          (!a.code || q.code === a.code || (!a.system && q.unit === a.code)) &&
          cmp(q.v, q.v, a.range[0], a.range[1]),
      ),
    );
  return { kind: 'quantity', conv: toQuantities, test: f.operator === Operator.NOT_EQUALS ? (q) => q.length > 0 && !any(q) : any };
}

function referenceMatcher(resourceType: string, sp: SearchParameter, f: F): Matcher<ReferenceValues> {
  const canonical = detailsOf(resourceType, sp)?.type === 'CANONICAL';
  const kind = canonical ? 'refc' : 'ref';
  const conv = (tv: TypedValue[]): ReferenceValues => toReferences(tv, canonical);
  const qs = values(f)
    .map((q) => q.trim())
    .filter(Boolean);
  switch (f.operator) {
    case Operator.EQUALS:
    case Operator.EXACT:
    case Operator.NOT:
    case Operator.NOT_EQUALS: {
      const tests = qs.map((q): ((ref: string) => boolean) => {
        if (canonical) return (ref) => ref === q || (!q.includes('|') && ref.split('|')[0] === q);
        if (q.includes('/')) {
          const key = normalizeReference(q);
          return (ref) => ref === key;
        }
        const tail = '/' + q;
        return (ref) => ref === q || ref.endsWith(tail);
      });
      const hit = (v: ReferenceValues): boolean => v.refs.some((ref) => tests.some((t) => t(ref)));
      const negated = f.operator === Operator.NOT || f.operator === Operator.NOT_EQUALS;
      return { kind, conv, test: negated ? (v) => !hit(v) : hit };
    }
    case Operator.IDENTIFIER: {
      const tests = qs.map((q) => tokenTest(q, false)).filter((t): t is (v: TokenValues) => boolean => t !== undefined);
      return { kind, conv, test: (v) => tests.some((t) => t(v.identifiers)) };
    }
    default:
      throw unsupported(f, 'reference');
  }
}

function uriMatcher(f: F): Matcher<string[]> {
  const qs = values(f);
  let test: (v: string[]) => boolean;
  switch (f.operator) {
    case Operator.EQUALS:
    case Operator.EXACT:
      test = (v) => v.some((u) => qs.includes(u));
      break;
    case Operator.NOT:
    case Operator.NOT_EQUALS:
      test = (v) => !v.some((u) => qs.includes(u));
      break;
    case Operator.ABOVE:
      test = (v) => v.some((u) => qs.some((q) => q.startsWith(u)));
      break;
    case Operator.BELOW:
      test = (v) => v.some((u) => qs.some((q) => u.startsWith(q)));
      break;
    default:
      throw unsupported(f, 'uri');
  }
  return { kind: 'uri', conv: toUris, test };
}

/** The matcher of a filter on a token, string, date, number, quantity, reference or uri parameter. */
function matcherFor(resourceType: string, sp: SearchParameter, f: F): Matcher<any> {
  switch (sp.type) {
    case 'token':
      return tokenMatcher(resourceType, sp, f);
    case 'string':
      return stringMatcher(f);
    case 'date':
      return dateMatcher(f);
    case 'number':
      return numberMatcher(f);
    case 'quantity':
      return quantityMatcher(f);
    case 'reference':
      return referenceMatcher(resourceType, sp, f);
    case 'uri':
      return uriMatcher(f);
    default:
      throw bad(`Unsupported search parameter type ${sp.type}: ${f.code}`);
  }
}

/** A parameter's converted values for a resource, computed once per resource object. */
function valuesGetter<V>(resourceType: string, sp: SearchParameter, kind: string, conv: (tv: TypedValue[]) => V): (r: Resource) => V {
  const ex = extractor(resourceType, sp);
  return memoized(`${kind}\u0000${resourceType}\u0000${sp.code}`, (r) => conv(ex(r)));
}

const COST: Record<string, number> = { token: 1, tokeni: 1, ref: 1, refc: 1, uri: 1, string: 2, date: 2, number: 2, quantity: 2 };

// ------------------------------------------------------------------ filters

function compile(ctx: Ctx, resourceType: string, f: F): Compiled {
  if (f.value.includes('\u0000')) throw bad(`Search filter value cannot contain null bytes: ${f.code}`);
  const code = f.code;
  if (code === '_filter') {
    if (f.fop) throw bad('_filter cannot be nested in _filter');
    return compileFilterParameter(ctx, resourceType, f);
  }
  if (code.startsWith('_has:') || code.includes('.')) return compileChain(ctx, resourceType, f);
  if (code === '_compartment') return compileCompartment(resourceType, f);
  const sp = searchParam(resourceType, code);
  if (!sp) throw bad(`Unknown search parameter: ${code}`);
  if (f.operator === Operator.MISSING || f.operator === Operator.PRESENT) {
    const want = flag(f) === (f.operator === Operator.PRESENT);
    const ex = extractor(resourceType, sp);
    const has = memoized(`present\u0000${resourceType}\u0000${code}`, (r) => ex(r).length > 0);
    return { cost: 2, test: (r) => has(r) === want };
  }
  if (code === '_id') return compileId(f);
  if (sp.type === 'composite') return compileComposite(resourceType, sp, f);
  const m = matcherFor(resourceType, sp, f);
  const get = valuesGetter(resourceType, sp, m.kind, m.conv);
  const test = m.test;
  return { cost: COST[m.kind] ?? 2, test: (r) => test(get(r)) };
}

function compileId(f: F): Compiled {
  const ids = values(f).map((v) => v.trim().split('/').pop() as string);
  switch (f.operator) {
    case Operator.EQUALS:
    case Operator.EXACT:
      return { cost: 0, test: (r) => ids.includes(r.id as string) };
    case Operator.NOT:
    case Operator.NOT_EQUALS:
      return { cost: 0, test: (r) => !ids.includes(r.id as string) };
    default:
      throw unsupported(f, 'token');
  }
}

/** The ids an `_id` filter names, when it is a plain equality (to read them directly). */
function idsOf(filters: readonly Filter[]): string[] | undefined {
  for (const f of filters) {
    if (f.code === '_id' && (f.operator === Operator.EQUALS || f.operator === Operator.EXACT)) return splitSearchOnComma(f.value).map((v) => v.trim().split('/').pop() as string);
  }
  return undefined;
}

function compileFilterParameter(ctx: Ctx, resourceType: string, f: F): Compiled {
  let text = f.value;
  // parseSearchRequest takes a leading prefix off the value of a parameter it does not know.
  if (f.operator !== Operator.EQUALS && /^[a-z]{2}$/.test(f.operator)) text = f.operator + text;
  else if (f.operator !== Operator.EQUALS) throw bad(`Unsupported modifier: _filter:${f.operator}`);
  let cost = 0;
  const build = (n: FilterNode): Pred => {
    switch (n.kind) {
      case 'cmp': {
        const c = compile(ctx, resourceType, { code: n.path, operator: n.operator, value: n.value, fop: n.op });
        cost += c.cost;
        return c.test;
      }
      case 'not': {
        const t = build(n.child);
        return (r) => !t(r);
      }
      case 'and': {
        const a = build(n.left);
        const b = build(n.right);
        return (r) => a(r) && b(r);
      }
      case 'or': {
        const a = build(n.left);
        const b = build(n.right);
        return (r) => a(r) || b(r);
      }
    }
  };
  const test = build(parseFilter(text));
  return { cost: cost + 1, test };
}

// ------------------------------------------------------------------ _compartment

const compartmentCodes = (resourceType: string): readonly string[] => PATIENT_COMPARTMENT[resourceType] ?? [];

/** The compartments a resource is in, as `Type/id`: meta.compartment, its patients, its project. */
function compartmentsGetter(resourceType: string): (r: Resource) => string[] {
  const refGetters = compartmentCodes(resourceType)
    .map((code) => searchParam(resourceType, code))
    .filter((sp): sp is SearchParameter => sp?.type === 'reference')
    .map((sp) => valuesGetter(resourceType, sp, 'ref', (tv) => toReferences(tv, false)));
  return memoized(`compartments\u0000${resourceType}`, (r) => {
    const out: string[] = [];
    const add = (s: string | undefined): void => {
      if (s && !out.includes(s)) out.push(s);
    };
    for (const c of r.meta?.compartment ?? []) if (c?.reference) add(normalizeReference(c.reference));
    for (const get of refGetters) for (const ref of get(r).refs) if (ref.startsWith('Patient/')) add(ref);
    if (resourceType === 'Patient' && r.id) add(`Patient/${r.id}`);
    const project = (r.meta as { project?: unknown } | undefined)?.project;
    if (typeof project === 'string') add(`Project/${project}`);
    return out;
  });
}

function compileCompartment(resourceType: string, f: F): Compiled {
  const get = compartmentsGetter(resourceType);
  const tests = values(f)
    .map((q) => q.trim())
    .filter(Boolean)
    .map((q): ((c: string) => boolean) => {
      if (q.includes('/')) {
        const key = normalizeReference(q);
        return (c) => c === key;
      }
      // Medplum's server compares the id alone.
      return (c) => c.endsWith('/' + q);
    });
  const hit = (r: Resource): boolean => get(r).some((c) => tests.some((t) => t(c)));
  switch (f.operator) {
    case Operator.EQUALS:
    case Operator.EXACT:
      return { cost: 3, test: hit };
    case Operator.NOT:
    case Operator.NOT_EQUALS:
      return { cost: 3, test: (r) => !hit(r) };
    default:
      throw unsupported(f, 'reference');
  }
}

// ------------------------------------------------------------------ composite

function componentParams(resourceType: string, sp: SearchParameter): { sp: SearchParameter; expr: FhirPathAtom }[] {
  const all = Object.values(globalSchema.types[resourceType]?.searchParams ?? {});
  return (sp.component ?? []).map((c) => {
    const def = all.find((p) => p.url === c.definition);
    if (!def || !c.expression) throw bad(`Unsupported composite search parameter: ${sp.code}`);
    return { sp: def, expr: parseFhirPath(c.expression) };
  });
}

function compileComposite(resourceType: string, sp: SearchParameter, f: F): Compiled {
  if (f.operator !== Operator.EQUALS && f.operator !== Operator.EXACT) throw unsupported(f, 'composite');
  const comps = componentParams(resourceType, sp);
  if (!comps.length) throw bad(`Unsupported composite search parameter: ${sp.code}`);
  // One alternative per comma-separated value: a matcher per component (`$`-separated).
  const alts = values(f).map((v) => {
    const parts = v.split('$');
    if (parts.length !== comps.length) throw bad(`Invalid value for composite search parameter ${sp.code}: ${v} (expected ${comps.length} parts joined by $)`);
    return parts.map((part, i) => {
      let cf: F;
      try {
        cf = parseParameter(comps[i].sp, Operator.EQUALS, '', part) as F;
      } catch (e) {
        throw e instanceof OperationOutcomeError ? e : bad(`Invalid value for composite search parameter ${sp.code}: ${v}`);
      }
      if (comps[i].sp.type === 'composite') throw bad(`Unsupported composite search parameter: ${sp.code}`);
      return matcherFor(resourceType, comps[i].sp, { ...cf, code: `${sp.code}$${comps[i].sp.code}` });
    });
  });
  const ex = extractor(resourceType, sp);
  // Per resource: per element of the base expression, each component's typed values.
  const itemsOf = memoized(`composite\u0000${resourceType}\u0000${sp.code}`, (r) => ex(r).map((item) => comps.map((c) => evalFhirPathTyped(c.expr, [item]))));
  return {
    cost: 6,
    test: (r) => itemsOf(r).some((item) => alts.some((ms) => ms.every((m, i) => m.test(m.conv(item[i]))))),
  };
}

// ------------------------------------------------------------------ chains

/** Splits `a:T.b._has:X:y:c` into links, as Medplum's server does. */
function splitChain(code: string): string[] {
  const parts: string[] = [];
  let rest = code;
  while (rest) {
    if (rest.startsWith('_has:')) {
      const typeEnd = rest.indexOf(':', 5);
      const codeEnd = typeEnd < 0 ? -1 : rest.indexOf(':', typeEnd + 1);
      if (typeEnd < 0 || codeEnd < 0) throw bad(`Invalid search chain: ${code}`);
      parts.push(rest.slice(0, codeEnd));
      rest = rest.slice(codeEnd + 1);
    } else {
      let dot = rest.indexOf('.');
      if (dot < 0) dot = rest.length;
      parts.push(rest.slice(0, dot));
      rest = rest.slice(dot + 1);
    }
  }
  if (parts.some((p) => !p)) throw bad(`Invalid search chain: ${code}`);
  return parts;
}

function compileChain(ctx: Ctx, resourceType: string, f: F): Compiled {
  const parts = splitChain(f.code);
  if (parts.length < 2) throw bad(`Invalid search chain: ${f.code}`);
  if (parts.length - 1 > 3) throw bad(`Search chains longer than three links are not supported: ${f.code}`);
  return { cost: 8, test: chainPred(ctx, resourceType, parts, 0, f) };
}

function chainPred(ctx: Ctx, resourceType: string, parts: string[], i: number, f: F): Pred {
  const part = parts[i];
  if (i === parts.length - 1) {
    const colon = part.indexOf(':');
    const code = colon < 0 ? part : part.slice(0, colon);
    const modifier = colon < 0 ? '' : part.slice(colon + 1);
    if (code.startsWith('_has')) throw bad(`Invalid search chain: ${f.code}`);
    let last: F;
    if (f.operator === Operator.EQUALS && !f.fop) {
      const sp = code === '_compartment' || code === '_filter' ? undefined : searchParam(resourceType, code);
      if (!sp) throw bad(`Unknown search parameter: ${code} (on ${resourceType}, in ${f.code})`);
      try {
        last = parseParameter(sp, Operator.EQUALS, modifier, f.value) as F;
      } catch (e) {
        throw e instanceof OperationOutcomeError ? e : bad(`Unsupported search parameter type ${sp.type}: ${code} (in ${f.code})`);
      }
    } else {
      if (modifier) throw bad(`Unsupported modifier in a _filter chain: ${part} (in ${f.code})`);
      last = { code, operator: f.operator, value: f.value, fop: f.fop };
    }
    return compile(ctx, resourceType, last).test;
  }
  if (part.startsWith('_has:')) {
    const [, type, code] = part.split(':');
    if (!globalSchema.types[type]?.searchParams) throw bad(`Unknown resource type in _has: ${type} (in ${f.code})`);
    const sp = searchParam(type, code);
    if (!sp) throw bad(`Unknown search parameter: ${code} (on ${type}, in ${f.code})`);
    if (sp.type !== 'reference') throw bad(`Invalid reverse chain link: ${type}?${code} is not a reference (in ${f.code})`);
    if (sp.target && !sp.target.includes(resourceType as never)) throw bad(`Invalid reverse chain link: ${type}?${code} does not refer to ${resourceType} (in ${f.code})`);
    const rest = chainPred(ctx, type, parts, i + 1, f);
    const refsOf = valuesGetter(type, sp, 'ref', (tv) => toReferences(tv, false));
    // The references of the matching resources of that type, once per search.
    let referenced: Set<string> | undefined;
    return (r) => {
      if (!referenced) {
        referenced = new Set();
        for (const t of ctx.source.all(type)) if (rest(t)) for (const ref of refsOf(t).refs) referenced.add(ref);
      }
      return referenced.has(`${resourceType}/${r.id}`);
    };
  }
  const colon = part.indexOf(':');
  const code = colon < 0 ? part : part.slice(0, colon);
  const typeModifier = colon < 0 ? '' : part.slice(colon + 1);
  const sp = searchParam(resourceType, code);
  if (!sp) throw bad(`Unknown search parameter: ${code} (on ${resourceType}, in ${f.code})`);
  if (sp.type !== 'reference') throw bad(`Search parameter ${code} is not a reference and cannot be chained (in ${f.code})`);
  let target: string;
  if (typeModifier) {
    if (!(sp.target ?? []).includes(typeModifier as never)) throw bad(`Invalid chained search: ${resourceType}?${code} does not refer to ${typeModifier} (in ${f.code})`);
    target = typeModifier;
  } else if (sp.target?.length === 1) {
    target = sp.target[0];
  } else {
    throw bad(`Unable to identify next resource type for search parameter: ${resourceType}?${code} (use ${code}:Type, in ${f.code})`);
  }
  const rest = chainPred(ctx, target, parts, i + 1, f);
  const refsOf = valuesGetter(resourceType, sp, 'ref', (tv) => toReferences(tv, false));
  const prefix = target + '/';
  const seen = new Map<string, boolean>();
  return (r) => {
    for (const ref of refsOf(r).refs) {
      if (!ref.startsWith(prefix)) continue;
      let ok = seen.get(ref);
      if (ok === undefined) {
        const t = ctx.source.get(target, ref.slice(prefix.length));
        ok = !!t && rest(t);
        seen.set(ref, ok);
      }
      if (ok) return true;
    }
    return false;
  };
}

// ------------------------------------------------------------------ _sort

type Key = number | string;

/** The sort keys of a resource for one rule (the first in the rule's order is used). */
function sortKeys(resourceType: string, rule: SortRule): (r: Resource) => Key[] {
  const code = rule.code;
  if (code === '_id') return (r) => (r.id ? [r.id] : []);
  if (code.includes('.') || code.startsWith('_has')) throw bad(`Cannot sort by a chained parameter: ${code}`);
  const sp = searchParam(resourceType, code);
  if (!sp || code === '_compartment') throw bad(`Unknown search parameter: ${code}`);
  switch (sp.type) {
    case 'date': {
      const get = valuesGetter(resourceType, sp, 'date', toDates);
      return (r) => {
        const p = get(r);
        const out: Key[] = [];
        for (let i = 0; i < p.length; i += 2) out.push(p[i] === -Infinity ? p[i + 1] : p[i]);
        return out;
      };
    }
    case 'number': {
      const get = valuesGetter(resourceType, sp, 'number', toNumbers);
      return (r) => {
        const p = get(r);
        const out: Key[] = [];
        for (let i = 0; i < p.length; i += 2) out.push(p[i] === -Infinity ? p[i + 1] : p[i]);
        return out;
      };
    }
    case 'quantity': {
      const get = valuesGetter(resourceType, sp, 'quantity', toQuantities);
      return (r) => get(r).map((q) => q.v);
    }
    case 'string': {
      const get = valuesGetter(resourceType, sp, 'string', toStrings);
      return (r) => get(r).norm;
    }
    case 'token': {
      const m = tokenMatcher(resourceType, sp, { code, operator: Operator.EQUALS, value: '' });
      const get = valuesGetter(resourceType, sp, m.kind, m.conv);
      return (r) => {
        const t = get(r);
        const codes = tokenValues(t, false);
        return codes.length ? codes : tokenValues(t, true);
      };
    }
    case 'reference': {
      const m = referenceMatcher(resourceType, sp, { code, operator: Operator.EQUALS, value: '' });
      const get = valuesGetter(resourceType, sp, m.kind, m.conv);
      return (r) => get(r).refs;
    }
    case 'uri': {
      const get = valuesGetter(resourceType, sp, 'uri', toUris);
      return (r) => get(r);
    }
    default:
      throw bad(`Cannot sort by a ${sp.type} parameter: ${code}`);
  }
}

function compareKeys(a: Key, b: Key): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Per rule, the key of a resource: its first value in the rule's order (undefined: none). */
function sortKeyFns(rules: readonly SortRule[], types: readonly string[]): ((r: Resource) => Key | undefined)[] {
  return rules.map((rule) => {
    const byType = new Map(types.map((t) => [t, sortKeys(t, rule)]));
    const desc = !!rule.descending;
    return (r: Resource): Key | undefined => {
      const keys = (byType.get(r.resourceType) as (r: Resource) => Key[])(r);
      let best: Key | undefined;
      for (const k of keys) if (best === undefined || (desc ? compareKeys(k, best) > 0 : compareKeys(k, best) < 0)) best = k;
      return best;
    };
  });
}

/** Sorts stably by the rules; resources without a value come last in either direction. */
function sortMatches(matches: Resource[], rules: readonly SortRule[], keyFns: ((r: Resource) => Key | undefined)[]): Resource[] {
  const rows = matches.map((r) => ({ r, k: keyFns.map((fn) => fn(r)) }));
  rows.sort((a, b) => {
    for (let i = 0; i < rules.length; i++) {
      const x = a.k[i];
      const y = b.k[i];
      if (x === y) continue;
      if (x === undefined) return 1;
      if (y === undefined) return -1;
      const c = compareKeys(x, y);
      if (c) return rules[i].descending ? -c : c;
    }
    return 0;
  });
  return rows.map((row) => row.r);
}

// ------------------------------------------------------------------ _summary / _elements

const SUBSETTED = { system: 'http://hl7.org/fhir/v3/ObservationValue', code: 'SUBSETTED' };
const ALWAYS = ['resourceType', 'id', 'meta'];

function mandatory(resourceType: string): string[] {
  try {
    return [...(getDataType(resourceType).mandatoryProperties ?? [])];
  } catch {
    return [];
  }
}

function isChoice(resourceType: string, name: string): boolean {
  try {
    return !!getElementDefinition(resourceType, name)?.path.endsWith('[x]');
  } catch {
    return false;
  }
}

/** The top-level elements that _summary / _elements keep for a type (undefined: all). */
function keptElements(resourceType: string, req: SearchRequest): ((key: string) => boolean) | undefined {
  let keep: string[];
  if (req.fields) keep = [...mandatory(resourceType), ...req.fields.map((x) => x.trim()).filter(Boolean)];
  else if (req.summary === 'true') keep = [...SUMMARY_COMMON, ...(SUMMARY_ELEMENTS[resourceType] ?? '').split(',').filter(Boolean)];
  else if (req.summary === 'text') keep = ['text', ...mandatory(resourceType)];
  else if (req.summary === 'data') return (k) => k !== 'text' && k !== '_text';
  else return undefined;
  const set = new Set([...ALWAYS, ...keep]);
  const choices = [...set].filter((p) => isChoice(resourceType, p));
  return (k) => {
    const name = k.startsWith('_') ? k.slice(1) : k;
    if (set.has(name)) return true;
    return choices.some((p) => name.length > p.length && name.startsWith(p) && /[A-Z]/.test(name[p.length]));
  };
}

function subset(r: Resource, keep: (key: string) => boolean): Resource {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(r)) if (ALWAYS.includes(k) || keep(k)) out[k] = (r as unknown as Record<string, unknown>)[k];
  out.meta = { ...r.meta, tag: [...(r.meta?.tag ?? []), SUBSETTED] };
  return out as unknown as Resource;
}

// ------------------------------------------------------------------ runSearch

function checkDefinitions(): void {
  if (!globalSchema.types.Patient?.searchParams?.name) {
    throw new Error('FHIR search definitions are not indexed: call ensureSearchDefinitions (src/core/medplum/definitions.ts) first');
  }
}

/**
 * Runs a parsed search (core's SearchRequest) and returns a searchset Bundle: entries
 * `{ search: { mode: 'match' }, resource }` (no fullUrl, no links), `total` only for
 * `_total=accurate|estimate` (and `_summary=count`), as Medplum's server. The entries' resources
 * are the source's own objects (or, with _summary / _elements, new shallow subsets of them): the
 * caller copies them before handing them to code that may change them. Throws
 * OperationOutcomeError(badRequest(...)) for what it does not understand; _include and
 * _revinclude are left to the caller.
 */
export function runSearch(source: SearchSource, req: SearchRequest, linkBase?: string): Bundle {
  checkDefinitions();
  const types: string[] = req.types?.length ? [...req.types] : [req.resourceType];
  for (const t of types) if (!globalSchema.types[t]?.searchParams) throw bad(`Unknown resource type: ${t}`);
  let count = req.count ?? DEFAULT_SEARCH_COUNT;
  if (!Number.isInteger(count) || count < 0) throw bad(`Invalid _count: ${req.count}`);
  count = Math.min(count, DEFAULT_MAX_SEARCH_COUNT);
  const offset = req.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) throw bad(`Invalid _offset: ${req.offset}`);
  if (req.cursor !== undefined) throw bad('_cursor is not supported here (page with _offset)');
  if (req.total !== undefined && req.total !== 'none' && req.total !== 'estimate' && req.total !== 'accurate') throw bad(`Invalid _total: ${req.total}`);
  const wantTotal = req.total === 'accurate' || req.total === 'estimate';

  const ctx: Ctx = { source };
  const filters = req.filters ?? [];
  // Everything is compiled (and refused) before any resource is looked at.
  const compiled = new Map<string, Pred[]>();
  for (const t of types) {
    const cs = filters.map((f) => compile(ctx, t, f as F)).map((c, i) => ({ ...c, i }));
    cs.sort((a, b) => a.cost - b.cost || a.i - b.i);
    compiled.set(t, cs.map((c) => c.test));
  }
  const rules = req.sortRules ?? [];
  const keyFns = sortKeyFns(rules, types);

  // Without a sort or a total, the search can stop once the page is full (and one more tells
  // that a next page exists).
  const enough = !rules.length && !wantTotal ? offset + count + 1 : Infinity;
  const ids = idsOf(filters);
  let matches: Resource[] = [];
  for (const t of types) {
    const tests = compiled.get(t) as Pred[];
    const candidates = ids ? [...new Set(ids)].map((id) => source.get(t, id)).filter((r): r is Resource => !!r) : source.all(t);
    const n = tests.length;
    for (const r of candidates) {
      let ok = true;
      for (let i = 0; i < n; i++) {
        if (!tests[i](r)) {
          ok = false;
          break;
        }
      }
      if (ok && matches.push(r) >= enough) break;
    }
    if (matches.length >= enough) break;
  }
  if (rules.length) matches = sortMatches(matches, rules, keyFns);

  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset' };
  if (count > 0) {
    const page = matches.slice(offset, offset + count);
    const keepByType = new Map<string, ((key: string) => boolean) | undefined>();
    bundle.entry = page.map((r): BundleEntry => {
      if (!keepByType.has(r.resourceType)) keepByType.set(r.resourceType, keptElements(r.resourceType, req));
      const keep = keepByType.get(r.resourceType);
      return { search: { mode: 'match' }, resource: keep ? subset(r, keep) : r };
    });
  }
  if (wantTotal) bundle.total = matches.length;
  if (linkBase && !req.types?.length) {
    // As a Medplum server pages (searchResourcePages follows `next`): self, and next while more match.
    const url = (r: SearchRequest): string => `${linkBase}${req.resourceType}${formatSearchQuery(r)}`;
    bundle.link = [{ relation: 'self', url: url(req) }];
    if (count > 0 && matches.length > offset + count) bundle.link.push({ relation: 'next', url: url({ ...req, offset: offset + count }) });
  }
  return bundle;
}

/**
 * Refuses (400) a modifier that @medplum/core's parseSearchRequest would drop without a word:
 * `name:xyz=...` becomes `name=...` there. For callers that have the raw query (a record of
 * parameter → values), before parsing it. `:Type` on a reference parameter is let through.
 */
export function checkSearchQuery(resourceType: string, query: Record<string, unknown>): void {
  for (const key of Object.keys(query)) {
    const colon = key.indexOf(':');
    if (colon < 0 || key.startsWith('_has:') || key.includes('.')) continue;
    const code = key.slice(0, colon);
    const modifier = key.slice(colon + 1);
    if (code === '_include' || code === '_revinclude') {
      if (modifier !== 'iterate') throw bad(`Unsupported modifier: ${key}`);
      continue;
    }
    const sp = searchParam(resourceType, code);
    if (!sp || MODIFIERS.has(modifier)) continue;
    if (sp.type === 'reference' && (sp.target ?? []).includes(modifier as never)) continue;
    throw bad(`Unsupported modifier: ${key}`);
  }
}

/** For tests: the per-type expression a parameter is evaluated with. */
export const searchExpression = (resourceType: string, code: string): string | undefined => {
  const sp = searchParam(resourceType, code);
  return sp ? expressionFor(resourceType, sp) : undefined;
};
