// The filter model: one filter row = one column, one operator, one value. Filters are AND-combined.
import type { Action, Outcome } from '../store/types';

/** A point in time: UTC milliseconds, or relative to "now" (`{ relative: '15m' }` = 15 minutes ago). */
export type TimeValue = number | { relative: string };

export type NumberOp = 'equals' | 'notEquals' | 'greaterThan' | 'lessThan';
export type TextEqOp = 'equals' | 'notEquals';
export type TextOp = 'equals' | 'notEquals' | 'contains' | 'notContains';

export type Filter =
  | { column: 'id'; op: NumberOp; value: number }
  | { column: 'entityId'; op: NumberOp; value: string }
  | { column: 'user'; op: TextEqOp; value: string }
  | { column: 'action'; op: 'oneOf'; value: Action[] }
  | { column: 'entityName'; op: TextOp; value: string }
  | { column: 'timestamp'; op: 'after' | 'before'; value: TimeValue }
  | { column: 'bot'; op: TextEqOp; value: string }
  | { column: 'outcome'; op: 'oneOf'; value: Outcome[] }
  | { column: 'text'; op: 'matches'; value: string };

export type Column = Filter['column'];
export type Operator = Filter['op'];

export interface ColumnSpec {
  column: Column;
  label: string;
  /** The qualifier in query text, e.g. `entity` in `entity:~story`. */
  qualifier: string;
  ops: { op: Operator; label: string }[];
  /** How the webview edits the value. */
  valueKind: 'integer' | 'text' | 'actions' | 'outcomes' | 'time';
}

const EQ = { op: 'equals', label: 'equals' } as const;
const NE = { op: 'notEquals', label: 'not equals' } as const;
const GT = { op: 'greaterThan', label: 'greater than' } as const;
const LT = { op: 'lessThan', label: 'less than' } as const;

/** The columns a filter row can use, their operators and labels (BotDistrikt's audit log page, plus bot, outcome and text). */
export const COLUMNS: readonly ColumnSpec[] = [
  { column: 'id', label: 'ID', qualifier: 'id', ops: [EQ, NE, GT, LT], valueKind: 'integer' },
  { column: 'user', label: 'User', qualifier: 'user', ops: [EQ, NE], valueKind: 'text' },
  { column: 'action', label: 'Action', qualifier: 'action', ops: [{ op: 'oneOf', label: 'is one of' }], valueKind: 'actions' },
  {
    column: 'entityName',
    label: 'Entity Name',
    qualifier: 'entity',
    ops: [EQ, NE, { op: 'contains', label: 'contains' }, { op: 'notContains', label: 'not contains' }],
    valueKind: 'text',
  },
  { column: 'entityId', label: 'Entity ID', qualifier: 'entity-id', ops: [EQ, NE, GT, LT], valueKind: 'text' },
  {
    column: 'timestamp',
    label: 'Timestamp',
    qualifier: 'created',
    ops: [
      { op: 'after', label: 'after' },
      { op: 'before', label: 'before' },
    ],
    valueKind: 'time',
  },
  { column: 'bot', label: 'Bot', qualifier: 'bot', ops: [EQ, NE], valueKind: 'text' },
  { column: 'outcome', label: 'Outcome', qualifier: 'outcome', ops: [{ op: 'oneOf', label: 'is one of' }], valueKind: 'outcomes' },
  { column: 'text', label: 'Text', qualifier: '', ops: [{ op: 'matches', label: 'matches' }], valueKind: 'text' },
];

export function columnSpec(column: Column): ColumnSpec {
  const spec = COLUMNS.find((c) => c.column === column);
  if (!spec) throw new Error(`unknown column ${String(column)}`);
  return spec;
}

/** Relative ranges the webview offers ("Last 15 minutes", …). */
export const RELATIVE_PRESETS: readonly { relative: string; label: string }[] = [
  { relative: '15m', label: 'Last 15 minutes' },
  { relative: '1h', label: 'Last 1 hour' },
  { relative: '24h', label: 'Last 24 hours' },
  { relative: '7d', label: 'Last 7 days' },
  { relative: '30d', label: 'Last 30 days' },
];
