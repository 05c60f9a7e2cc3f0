// Human time: "3 min ago", "1.2 s". Pure and browser-safe: the tree, the webview and the CLI share it.

/** How long ago `then` was, from `now`: "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago", else a date. */
export function timeAgo(then: number, now: number = Date.now()): string {
  const s = Math.round((now - then) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.floor(h / 24);
  if (d < 30) return `${d} d ago`;
  return new Date(then).toISOString().slice(0, 10);
}

/** A duration: "850 ms", "1.2 s", "2 min 5 s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s ? `${m} min ${s} s` : `${m} min`;
}

/** An instant as local or UTC text, to the second: "2026-11-23 16:40:05" (+ " UTC"). */
export function formatInstant(ms: number, zone: 'local' | 'utc'): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (zone === 'utc') {
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
