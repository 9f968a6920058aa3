/**
 * The little DER that OCSP stapling needs: reading a certificate's fields and an OCSP
 * response's, and writing an OCSP request. Definite lengths only (DER has no other).
 */

/** One DER element: its tag, where its content starts and ends, and where the whole element starts. */
export interface DerNode {
  readonly tag: number;
  readonly start: number;
  readonly content: number;
  readonly end: number;
}

/** The element at `at` in `der`; throws on a length that runs past `limit`. */
export function readNode(der: Buffer, at: number, limit = der.length): DerNode {
  if (at + 2 > limit) throw new Error('truncated DER');
  const tag = der[at];
  let length = der[at + 1];
  let content = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || content + bytes > limit) throw new Error('bad DER length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[content + i];
    content += bytes;
  }
  if (content + length > limit) throw new Error('truncated DER');
  return { tag, start: at, content, end: content + length };
}

/** The elements inside a constructed element, in order. */
export function children(der: Buffer, node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let at = node.content; at < node.end; ) {
    const child = readNode(der, at, node.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** The bytes of a whole element (tag and length included), or of its content. */
export const whole = (der: Buffer, node: DerNode): Buffer => der.subarray(node.start, node.end);
export const contentOf = (der: Buffer, node: DerNode): Buffer => der.subarray(node.content, node.end);

/** An element written from its tag and content. */
export function encode(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

export const SEQUENCE = 0x30;
export const OCTET_STRING = 0x04;
export const INTEGER = 0x02;

/** A certificate's parts OCSP needs: its serial number's content, its issuer's and subject's Name (whole), its public key's bits. */
export interface CertificateParts {
  readonly serial: Buffer;
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly publicKeyBits: Buffer;
}

/** Reads a DER certificate's TBSCertificate: [0] version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo. */
export function certificateParts(der: Buffer): CertificateParts {
  const certificate = readNode(der, 0);
  const tbs = children(der, certificate)[0];
  let fields = children(der, tbs);
  if (fields[0].tag === 0xa0) fields = fields.slice(1);
  const [serial, , issuer, , subject, spki] = fields;
  const bitString = children(der, spki)[1];
  // A BIT STRING's first content byte counts the unused bits.
  return { serial: contentOf(der, serial), issuer: whole(der, issuer), subject: whole(der, subject), publicKeyBits: der.subarray(bitString.content + 1, bitString.end) };
}
