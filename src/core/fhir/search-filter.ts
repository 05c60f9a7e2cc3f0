// The `_filter` parameter (https://hl7.org/fhir/R4/search_filter.html) parsed into a tree.
//
// Same grammar and operator mapping as @medplum/core's parseFilterParameter (which Medplum's
// server uses): a comparison is `path op value`; `(...)` groups; `not(...)` negates; `and` / `or`
// join a comparison or group to the rest of the expression, to the right, with equal precedence
// (`a and b or c` is `a and (b or c)`). Core's parser refuses `ew`; this one accepts it (ends
// with), and names the operators it does not support (`po`, `ss`, `sb`) in its 400. Values are
// a bare word (up to a space or parenthesis) or a quoted string ("..." or '...', with \-escapes).
import './globals';
import { OperationOutcomeError, Operator, badRequest } from '@medplum/core';

/** `ew` (ends with) has no Operator in core. */
export const ENDS_WITH = 'ew';
export type FilterOperator = Operator | typeof ENDS_WITH;

export type FilterNode =
  | { kind: 'cmp'; path: string; operator: FilterOperator; value: string; op: string }
  | { kind: 'not'; child: FilterNode }
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode };

/** _filter operators as core maps them; `ew` added. */
const OPERATORS: Record<string, FilterOperator | undefined> = {
  eq: Operator.EXACT,
  ne: Operator.NOT_EQUALS,
  co: Operator.CONTAINS,
  sw: Operator.STARTS_WITH,
  ew: ENDS_WITH,
  gt: Operator.GREATER_THAN,
  lt: Operator.LESS_THAN,
  ge: Operator.GREATER_THAN_OR_EQUALS,
  le: Operator.LESS_THAN_OR_EQUALS,
  ap: Operator.APPROXIMATELY,
  sa: Operator.STARTS_AFTER,
  eb: Operator.ENDS_BEFORE,
  pr: Operator.PRESENT,
  in: Operator.IN,
  ni: Operator.NOT_IN,
  re: Operator.EQUALS,
  identifier: Operator.IDENTIFIER,
};
const UNSUPPORTED = new Set(['po', 'ss', 'sb']);

const bad = (msg: string): OperationOutcomeError => new OperationOutcomeError(badRequest(msg));

type Tok = { t: '(' | ')' | 'word' | 'str'; v: string; at: number };

function tokenize(input: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      out.push({ t: c, v: c, at: i });
      i++;
    } else if (c === '"' || c === "'") {
      const at = i;
      let v = '';
      i++;
      for (;;) {
        if (i >= input.length) throw bad(`Invalid _filter: unterminated string at ${at}`);
        const d = input[i];
        if (d === '\\' && i + 1 < input.length) {
          v += input[i + 1];
          i += 2;
        } else if (d === c) {
          i++;
          break;
        } else {
          v += d;
          i++;
        }
      }
      out.push({ t: 'str', v, at });
    } else {
      const at = i;
      while (i < input.length && !/[\s()]/.test(input[i])) i++;
      out.push({ t: 'word', v: input.slice(at, i), at });
    }
  }
  return out;
}

/** Parses a _filter expression; throws a 400 OperationOutcomeError naming what it does not understand. */
export function parseFilter(input: string): FilterNode {
  const toks = tokenize(input);
  let p = 0;
  const peek = (): Tok | undefined => toks[p];
  const expect = (t: Tok['t'], what: string): Tok => {
    const k = toks[p];
    if (!k || k.t !== t) throw bad(`Invalid _filter: expected ${what}${k ? ` at "${k.v}"` : ' at the end'}`);
    p++;
    return k;
  };
  const parse = (): FilterNode => {
    let node: FilterNode;
    const k = peek();
    if (!k) throw bad('Invalid _filter: expected a comparison at the end');
    if (k.t === '(') {
      p++;
      node = parse();
      expect(')', '")"');
    } else if (k.t === 'word' && k.v === 'not' && toks[p + 1]?.t === '(') {
      p += 2;
      node = { kind: 'not', child: parse() };
      expect(')', '")"');
    } else {
      const path = expect('word', 'a search parameter').v;
      const opTok = expect('word', `an operator after "${path}"`);
      const op = opTok.v;
      if (UNSUPPORTED.has(op)) throw bad(`Unsupported _filter operator: ${op} (in "${path} ${op}")`);
      const operator = OPERATORS[op];
      if (!operator) throw bad(`Invalid _filter operator: ${op} (in "${path} ${op}")`);
      const v = peek();
      if (!v || (v.t !== 'word' && v.t !== 'str')) throw bad(`Invalid _filter: expected a value after "${path} ${op}"`);
      p++;
      node = { kind: 'cmp', path, operator, value: v.v, op };
    }
    const next = peek();
    if (next?.t === 'word' && (next.v === 'and' || next.v === 'or')) {
      p++;
      return { kind: next.v, left: node, right: parse() };
    }
    return node;
  };
  const tree = parse();
  const extra = peek();
  if (extra) throw bad(`Invalid _filter: unexpected "${extra.v}"`);
  return tree;
}
