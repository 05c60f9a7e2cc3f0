// The codicons the webview shows. The page's stylesheet carries only these (esbuild.mjs reads this
// list and builds their rules from @vscode/codicons' codicon.css): 12 rules instead of 655, and one
// stylesheet fewer for the page to fetch and parse before its first rows. A name not in the list is
// a type error where an icon is asked for, and an unknown name here fails the build.
export const CODICONS = [
  'add',
  'arrow-down',
  'arrow-up',
  'cloud',
  'diff',
  'export',
  'globe',
  'history',
  'layout-sidebar-right',
  'link',
  'list-flat',
  'refresh',
  'root-folder',
  'trash',
] as const;

export type Codicon = (typeof CODICONS)[number];

/** The class names of a codicon. */
export function codiconClass(name: Codicon): string {
  return `codicon codicon-${name}`;
}
