/**
 * Channel ids: what a subscriber or publisher location's `channel` value may expand to. The
 * same ids name channels in the master and in Redis, so they are kept to printable, unambiguous
 * characters.
 */

/** Longest channel id accepted. */
export const MAX_CHANNEL_ID_LENGTH = 255;

const CHANNEL_ID = /^[A-Za-z0-9_.:@~\-/]+$/;

/** Why `id` is not a valid channel id, or null when it is. */
export function channelIdProblem(id: string): string | null {
  if (id === '') return 'empty channel id';
  if (id.length > MAX_CHANNEL_ID_LENGTH) return `channel id longer than ${MAX_CHANNEL_ID_LENGTH} characters`;
  if (!CHANNEL_ID.test(id)) return 'channel id with characters other than letters, digits and _ . : @ ~ - /';
  return null;
}
