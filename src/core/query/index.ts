// The query module: filter model, query text, relative times and the SQL builder. No `vscode`.
export { COLUMNS, RELATIVE_PRESETS, columnSpec } from './filter';
export type { Filter, Column, Operator, ColumnSpec, TimeValue, NumberOp, TextEqOp, TextOp } from './filter';
export { parseQuery, formatQuery, validateFilter, QueryError } from './parse';
export { parseRelative, isValidRelative, describeRelative, resolveTime, parseAbsolute, formatAbsolute } from './time';
export { buildWhere, entityNumber, indexProbe, likeContains, likeContainsMatch, ftsPhrase } from './sql';
export type { SqlWhere, SqlParam, BuildOptions } from './sql';
