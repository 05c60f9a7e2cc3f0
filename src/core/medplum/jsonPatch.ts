// RFC 6902 JSON Patch (add, remove, replace, move, copy, test) on a copy of a JSON value.
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

export class PatchError extends Error {
  readonly status = 400;
  constructor(message: string) {
    super(message);
    this.name = 'PatchError';
  }
}

function parsePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new PatchError(`Invalid JSON pointer: ${p}`);
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

function parentOf(doc: unknown, tokens: string[], path: string): { parent: Container; key: string } {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (cur && typeof cur === 'object') cur = (cur as Record<string, unknown>)[t];
    else cur = undefined;
    if (cur === undefined) throw new PatchError(`Path not found: ${path}`);
  }
  if (!cur || typeof cur !== 'object') throw new PatchError(`Path not found: ${path}`);
  return { parent: cur as Container, key: tokens[tokens.length - 1] };
}

function get(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const t of parsePointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (cur && typeof cur === 'object') cur = (cur as Record<string, unknown>)[t];
    else return undefined;
  }
  return cur;
}

function arrayIndex(arr: unknown[], key: string, path: string, forAdd: boolean): number {
  if (forAdd && key === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw new PatchError(`Invalid array index in ${path}`);
  const i = Number(key);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`Index out of range: ${path}`);
  return i;
}

function add(doc: unknown, path: string, value: unknown): unknown {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, value);
  else parent[key] = value;
  return doc;
}

function remove(doc: unknown, path: string): unknown {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw new PatchError('Cannot remove the whole document');
  const { parent, key } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, false), 1);
  else {
    if (!(key in parent)) throw new PatchError(`Path not found: ${path}`);
    delete parent[key];
  }
  return doc;
}

/** Applies the operations to a deep copy of `doc` and returns it. Throws PatchError (status 400). */
export function applyJsonPatch<T>(doc: T, ops: PatchOperation[]): T {
  if (!Array.isArray(ops)) throw new PatchError('A JSON Patch must be an array of operations');
  let out: unknown = structuredClone(doc);
  for (const op of ops) {
    switch (op?.op) {
      case 'add':
        out = add(out, op.path, structuredClone(op.value));
        break;
      case 'remove':
        out = remove(out, op.path);
        break;
      case 'replace':
        if (get(out, op.path) === undefined) throw new PatchError(`Path not found: ${op.path}`);
        out = add(remove(out, op.path), op.path, structuredClone(op.value));
        break;
      case 'move': {
        const v = get(out, op.from ?? '');
        if (v === undefined) throw new PatchError(`Path not found: ${op.from}`);
        out = add(remove(out, op.from ?? ''), op.path, v);
        break;
      }
      case 'copy': {
        const v = get(out, op.from ?? '');
        if (v === undefined) throw new PatchError(`Path not found: ${op.from}`);
        out = add(out, op.path, structuredClone(v));
        break;
      }
      case 'test':
        if (JSON.stringify(get(out, op.path)) !== JSON.stringify(op.value)) throw new PatchError(`Test failed at ${op.path}`);
        break;
      default:
        throw new PatchError(`Unknown patch operation: ${JSON.stringify(op?.op)}`);
    }
  }
  return out as T;
}
