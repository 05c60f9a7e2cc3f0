import { createHash } from 'node:crypto';

/** A stable UUID-shaped id for a name (a bot's path, a user's email): the same name, the same id. */
export function stableId(kind: string, name: string): string {
  const h = createHash('sha256').update(`${kind}\0${name}`).digest('hex');
  // Shaped as a version-5 UUID (version and variant bits set), as Medplum's ids are UUIDs.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
