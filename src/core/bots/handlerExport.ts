// Whether a module's source exports `handler`, decided from its text alone: no running, no
// bundling, no parser. Comments, string contents and regular-expression bodies are blanked
// first (keeping every offset and line), so `// export async function handler` or
// "export function handler" in a string do not count. Pure: no `vscode`, no I/O.
//
// The forms recognised are the ones bots use:
//   export [async] function [*]handler      export const|let|var handler
//   export { handler }   export { x as handler }   export { handler } from './x'
//   exports.handler =   module.exports.handler =   exports['handler'] =
//   module.exports = { handler, … }   module.exports = { handler: … }   { async handler() {} }
//   Object.defineProperty(exports, 'handler', …)
//   export default { handler }  (the runner reads `default.handler` too)
//   __export(x, { handler: () => handler })  (esbuild's CommonJS output)
// Not a handler: `export default function handler` (that exports `default`), `export type { handler }`,
// `export declare function handler`, `export * from './x'` (cannot be told without reading './x').

/** Words after which a `/` starts a regular expression rather than a division. */
const REGEX_AFTER_WORDS = new Set([
  'return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await', 'default', 'extends',
]);
const SPECIAL = /[/'"`{}]/g;
const IDENT_CHAR = /[\w$]/;
const blank = (s: string): string => s.replace(/[^\n\r]/g, ' ');

/**
 * The text with comments, string contents (except a string that is exactly `handler`, for
 * `exports['handler']`) and regular-expression bodies replaced by spaces. Same length, same lines.
 * Template literals are blanked except their `${…}` parts, which are code.
 */
export function maskNonCode(text: string): string {
  const n = text.length;
  const out: string[] = [];
  const templateDepths: number[] = []; // one per open `${`: how many `{` are open inside it
  let copied = 0;
  let lastSig = ''; // the last non-space character of code
  let lastSigAt = -1;

  const code = (to: number): void => {
    for (let k = to - 1; k >= copied; k--) {
      const c = text[k];
      if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') {
        lastSig = c;
        lastSigAt = k;
        break;
      }
    }
    out.push(text.slice(copied, to));
    copied = to;
  };
  const hide = (to: number): void => {
    out.push(blank(text.slice(copied, to)));
    copied = to;
  };
  const regexMayStart = (): boolean => {
    if (lastSig === '') return true;
    if (IDENT_CHAR.test(lastSig)) {
      let k = lastSigAt;
      while (k > 0 && IDENT_CHAR.test(text[k - 1])) k--;
      return REGEX_AFTER_WORDS.has(text.slice(k, lastSigAt + 1));
    }
    return !(lastSig === ')' || lastSig === ']' || lastSig === '"' || lastSig === "'" || lastSig === '`');
  };
  /** From inside a template literal at `from`: blanks its text up to the closing backtick or a `${`. */
  const template = (from: number): number => {
    let j = from;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 92) j += 2; // backslash
      else if (c === 96 || (c === 36 && text.charCodeAt(j + 1) === 123)) break; // ` or ${
      else j++;
    }
    if (j >= n) {
      hide(n);
      return n;
    }
    hide(j);
    if (text[j] === '`') {
      code(j + 1);
      return j + 1;
    }
    templateDepths.push(0);
    code(j + 2);
    return j + 2;
  };

  let i = 0;
  while (i < n) {
    SPECIAL.lastIndex = i;
    const m = SPECIAL.exec(text);
    if (!m) break;
    const j = m.index;
    const c = m[0];
    code(j);
    if (c === '{') {
      if (templateDepths.length) templateDepths[templateDepths.length - 1]++;
      code(j + 1);
      i = j + 1;
    } else if (c === '}') {
      const top = templateDepths.length - 1;
      code(j + 1);
      if (top >= 0 && templateDepths[top] === 0) {
        templateDepths.pop();
        i = template(j + 1);
      } else {
        if (top >= 0) templateDepths[top]--;
        i = j + 1;
      }
    } else if (c === '`') {
      code(j + 1);
      i = template(j + 1);
    } else if (c === '"' || c === "'") {
      let k = j + 1;
      while (k < n && text[k] !== c && text[k] !== '\n') k += text[k] === '\\' ? 2 : 1;
      k = Math.min(k, n);
      code(j + 1);
      if (text.slice(j + 1, k) === 'handler') code(k);
      else hide(k);
      if (text[k] === c) {
        code(k + 1);
        i = k + 1;
      } else {
        i = k; // unterminated: ends at the line's end
      }
    } else {
      const next = text[j + 1];
      if (next === '/') {
        const end = text.indexOf('\n', j);
        i = end < 0 ? n : end;
        hide(i);
      } else if (next === '*') {
        const end = text.indexOf('*/', j + 2);
        i = end < 0 ? n : end + 2;
        hide(i);
      } else {
        // A regular expression ends on its line; when no `/` closes it there, it was a division.
        let k = -1;
        if (regexMayStart()) {
          let inClass = false;
          for (let p = j + 1; p < n; p++) {
            const d = text[p];
            if (d === '\n' || d === '\r') break;
            if (d === '\\') p++;
            else if (d === '[') inClass = true;
            else if (d === ']') inClass = false;
            else if (d === '/' && !inClass) {
              k = p;
              break;
            }
          }
        }
        code(j + 1);
        if (k >= 0) {
          hide(k);
          code(k + 1);
          lastSig = ')'; // a regular expression is a value: a `/` after it divides
          i = k + 1;
        } else {
          i = j + 1;
        }
      }
    }
  }
  if (copied < n) code(n);
  return out.join('');
}

const DECLARATION = /(?<![\w$.])export\s+(?:(?:async\s+)?function\b\s*\*?\s*|(?:const|let|var)\s+)handler(?![\w$])/g;
const SPECIFIERS = /(?<![\w$.])export\s*(type\b\s*)?\{([^}]*)\}/g;
const MEMBER = /(?<![\w$.])(?:module\s*\.\s*)?exports\s*(?:\.\s*handler(?![\w$])|\[\s*(['"])handler\1\s*\])\s*=(?!=)/g;
const OBJECT = /(?<![\w$.])(?:module\s*\.\s*exports\s*=|export\s+default|__export\s*\(\s*[\w$]+\s*,)\s*\{/g;
const DEFINE = /(?<![\w$.])Object\s*\.\s*defineProperty\s*\(\s*(?:module\s*\.\s*)?exports\s*,\s*(['"])handler\1/g;
const KEY = /\s*(?:(?:async|get|set)\s+(?=[\w$'"*]))?\*?\s*(?:([A-Za-z_$][\w$]*)|(['"])([^'"\n]*)\2)/y;

/** Whether an `export { … }` list exports a value named `handler`. */
function specifiersExportHandler(list: string): boolean {
  for (const raw of list.split(',')) {
    const s = raw.trim();
    if (!s || /^type\s/.test(s)) continue; // `export { type X }` exports a type only
    const m = /^(?:[\w$]+|(['"])[^'"]*\1)(?:\s+as\s+(?:([\w$]+)|(['"])([^'"]*)\3))?$/.exec(s);
    if (!m) continue;
    const exported = m[2] ?? m[4] ?? s.replace(/^['"]|['"]$/g, '');
    if (exported === 'handler') return true;
  }
  return false;
}

/** Whether the object literal whose body starts at `from` (just after `{`) has a top-level key `handler`. */
function objectHasHandlerKey(code: string, from: number): boolean {
  let i = from;
  const n = code.length;
  while (i < n) {
    KEY.lastIndex = i;
    const k = KEY.exec(code);
    if (k && (k[1] ?? k[3]) === 'handler') return true;
    // Skip to the next top-level `,`, or stop at the closing `}`.
    let depth = 0;
    for (; i < n; i++) {
      const c = code[i];
      if (c === '{' || c === '(' || c === '[') depth++;
      else if (c === ')' || c === ']') depth--;
      else if (c === '}') {
        if (depth === 0) return false;
        depth--;
      } else if (c === ',' && depth === 0) break;
    }
    i++;
  }
  return false;
}

/** Offset of the first statement that exports `handler`, in the masked text, or -1. */
function firstHandlerExport(code: string): number {
  let best = -1;
  const consider = (re: RegExp, ok: (m: RegExpExecArray) => boolean): void => {
    re.lastIndex = 0;
    for (let m = re.exec(code); m; m = re.exec(code)) {
      if (best >= 0 && m.index >= best) return;
      if (ok(m)) {
        best = m.index;
        return;
      }
    }
  };
  consider(DECLARATION, () => true);
  consider(MEMBER, () => true);
  consider(DEFINE, () => true);
  consider(SPECIFIERS, (m) => !m[1] && specifiersExportHandler(m[2]));
  consider(OBJECT, (m) => objectHasHandlerKey(code, m.index + m[0].length));
  return best;
}

/** The 0-based line of the statement that exports `handler`, or undefined when the source exports none. */
export function findHandlerLine(text: string): number | undefined {
  if (!text.includes('handler')) return undefined; // most shared modules: no need to look closer
  const at = firstHandlerExport(maskNonCode(text));
  if (at < 0) return undefined;
  let line = 0;
  for (let p = text.indexOf('\n'); p >= 0 && p < at; p = text.indexOf('\n', p + 1)) line++;
  return line;
}

/** Whether the source exports `handler` (see the forms above). */
export function exportsHandler(text: string): boolean {
  return findHandlerLine(text) !== undefined;
}
