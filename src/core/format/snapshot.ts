// Snapshots travel and are stored as JSON text. Browser-safe and free of `vscode`: the store and
// the audit-log page read them the same way.

/** A snapshot's value from its JSON text; text that is not JSON (a capped snapshot) comes back as it is. */
export function parseSnapshot(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
