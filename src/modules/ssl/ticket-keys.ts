/**
 * The keys that encrypt TLS session tickets. nginx makes its SSL contexts in the master, so
 * every worker has the same random keys (a ticket one worker made resumes on another) and a
 * reload makes new ones; here the master draws one secret per generation of workers and hands
 * it over in the environment, and each listener's key is derived from it. With
 * `ssl_session_ticket_key FILE` the key is the file's (48 bytes as nginx's: name, AES key, HMAC
 * key; of an 80-byte file (name, HMAC key, AES key), made for AES-256, the first 16 bytes of each 32-byte key: Node's
 * tickets are AES-128 and take one key only, so a second `ssl_session_ticket_key` is read and
 * checked but tickets it made get a full handshake).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { ContextError, readRef, type FileRef } from './contexts';

/** The environment variable by which the master hands its workers the generation's ticket secret (hex). */
export const TICKET_SECRET_ENV = 'GATEWAY_TLS_TICKET_SECRET';

/** A new secret for a generation of workers. */
export function newTicketSecret(): string {
  return randomBytes(32).toString('hex');
}

/**
 * This process's secret: its master's, or its own when it runs alone. Taken out of the
 * environment once read, so that no process a script starts inherits it.
 */
let ownSecret: string | null = null;
function processSecret(): string {
  if (ownSecret) return ownSecret;
  const handed = process.env[TICKET_SECRET_ENV];
  delete process.env[TICKET_SECRET_ENV];
  ownSecret = handed && /^[0-9a-f]{64}$/.test(handed) ? handed : newTicketSecret();
  return ownSecret;
}

/** Node's 48 bytes (name, HMAC key, AES key) from an nginx key file's 48 or 80. */
export function ticketKeyOfFile(ref: FileRef): Buffer {
  const bytes = readRef(ref, (why) => `open() "${ref.path}" failed (${why})`);
  // nginx's 48 bytes are name, AES key, HMAC key; Node's name, HMAC key, AES key.
  if (bytes.length === 48) return Buffer.concat([bytes.subarray(0, 16), bytes.subarray(32, 48), bytes.subarray(16, 32)]);
  if (bytes.length === 80) return Buffer.concat([bytes.subarray(0, 16), bytes.subarray(16, 32), bytes.subarray(48, 64)]);
  throw new ContextError(`"${ref.path}" must be 48 or 80 bytes`, ref.at);
}

/** The ticket key of one listening socket (`scope` names it), the same in every worker of a generation. */
export function derivedTicketKey(scope: string): Buffer {
  return createHmac('sha512', Buffer.from(processSecret(), 'hex')).update(`ticket key of ${scope}`).digest().subarray(0, 48);
}
