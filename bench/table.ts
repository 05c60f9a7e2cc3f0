// The benchmarks' table of metrics: one row per metric, its value, its goal and whether it was met.

/** Prints rows of [metric, value, goal, met/missed] as a padded Markdown table. */
export function printGoalTable(rows: string[][]): void {
  const head = ['metric', 'value', 'goal', ''];
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), head[i].length));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}
