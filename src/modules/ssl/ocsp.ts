/**
 * OCSP as nginx's stapling uses it (RFC 6960): the request for one certificate (a CertID of
 * SHA-1 hashes), and the checks of a response before it is stapled: successful, a single
 * response for that certificate whose status is good and whose time is valid, and with
 * `ssl_stapling_verify` a signature by the issuer or by a responder certificate the issuer
 * signed for OCSP signing.
 */
import { createHash, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { certificateParts, children, contentOf, encode, INTEGER, OCTET_STRING, readNode, SEQUENCE, whole, type DerNode } from './der';

/** sha1's AlgorithmIdentifier, with NULL parameters. */
const SHA1_ALGORITHM = Buffer.from('300906052b0e03021a0500', 'hex');

/** The CertID of `leaf` issued by `issuer`. */
function certId(leaf: X509Certificate, issuer: X509Certificate): Buffer {
  const leafParts = certificateParts(leaf.raw);
  const issuerParts = certificateParts(issuer.raw);
  const sha1 = (data: Buffer) => createHash('sha1').update(data).digest();
  return encode(SEQUENCE, Buffer.concat([SHA1_ALGORITHM, encode(OCTET_STRING, sha1(issuerParts.subject)), encode(OCTET_STRING, sha1(issuerParts.publicKeyBits)), encode(INTEGER, leafParts.serial)]));
}

/** An OCSPRequest for one certificate, without a nonce (as nginx's, so that responses can be cached). */
export function ocspRequest(leaf: X509Certificate, issuer: X509Certificate): Buffer {
  const request = encode(SEQUENCE, certId(leaf, issuer));
  return encode(SEQUENCE, encode(SEQUENCE, encode(SEQUENCE, request)));
}

/** Signature algorithms by OID (DER content), as Node's `verify` names their hash. */
const SIGNATURE_HASHES: Readonly<Record<string, string>> = {
  '2a864886f70d010105': 'sha1',
  '2a864886f70d01010b': 'sha256',
  '2a864886f70d01010c': 'sha384',
  '2a864886f70d01010d': 'sha512',
  '2a8648ce3d040302': 'sha256',
  '2a8648ce3d040303': 'sha384',
  '2a8648ce3d040304': 'sha512',
};

/** `id-kp-OCSPSigning`. */
const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

/** `YYYYMMDDHHMMSS[.f]Z` in milliseconds. */
function generalizedTime(text: string): number {
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/.exec(text);
  if (!m) throw new Error(`bad time "${text}"`);
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

/** What a checked response says: until when it may be stapled. */
export interface CheckedResponse {
  /** nextUpdate, or null when the responder gave none. */
  readonly nextUpdate: number | null;
}

/**
 * Checks a DER OCSPResponse for `leaf`, as nginx does before stapling one; throws nginx's
 * reason. `verifySignature`: `ssl_stapling_verify`.
 */
export function checkOcspResponse(der: Buffer, leaf: X509Certificate, issuer: X509Certificate, verifySignature: boolean, now = Date.now()): CheckedResponse {
  try {
    return checkParsed(der, leaf, issuer, verifySignature, now);
  } catch (err) {
    // A response that is not the DER it should be (a field missing, a length past its end).
    if (err instanceof OcspError) throw err;
    throw new OcspError(`d2i_OCSP_RESPONSE() failed (${(err as Error).message})`);
  }
}

/** A reason nginx gives for not stapling a response. */
class OcspError extends Error {}

function checkParsed(der: Buffer, leaf: X509Certificate, issuer: X509Certificate, verifySignature: boolean, now: number): CheckedResponse {
  const top = children(der, readNode(der, 0));
  const status = contentOf(der, top[0])[0];
  if (status !== 0) throw new OcspError(`OCSP response not successful (${status})`);
  if (!top[1]) throw new OcspError('OCSP response has no response bytes');
  const responseBytes = children(der, children(der, top[1])[0]);
  const basicDer = contentOf(der, responseBytes[1]);
  const basic = children(basicDer, readNode(basicDer, 0));
  const [tbs, algorithm, signature, certs] = basic;
  if (verifySignature) verifyResponseSignature(basicDer, tbs, algorithm, signature, certs, issuer);
  let data = children(basicDer, tbs);
  if (data[0].tag === 0xa0) data = data.slice(1);
  const responses = children(basicDer, data[2]);
  const serial = certificateParts(leaf.raw).serial;
  for (const single of responses) {
    const [id, certStatus, thisUpdate, ...rest] = children(basicDer, single);
    const idParts = children(basicDer, id);
    if (!contentOf(basicDer, idParts[3]).equals(serial)) continue;
    if (certStatus.tag !== 0x80) throw new OcspError(`certificate status "${certStatus.tag === 0xa1 ? 'revoked' : 'unknown'}" in the OCSP response`);
    const next = rest.find((n) => n.tag === 0xa0);
    const nextUpdate = next ? generalizedTime(contentOf(basicDer, children(basicDer, next)[0]).toString('latin1')) : null;
    // OpenSSL's OCSP_check_validity allows 5 minutes of clock skew.
    if (generalizedTime(contentOf(basicDer, thisUpdate).toString('latin1')) > now + 300_000 || (nextUpdate !== null && nextUpdate < now - 300_000)) {
      throw new OcspError('OCSP_check_validity() failed (status times invalid)');
    }
    return { nextUpdate };
  }
  throw new OcspError('certificate status not found in the OCSP response');
}

/** The response's signature, by the issuer or by a certificate in it that the issuer signed for OCSP signing. */
function verifyResponseSignature(der: Buffer, tbs: DerNode, algorithm: DerNode, signature: DerNode, certs: DerNode | undefined, issuer: X509Certificate): void {
  const oid = contentOf(der, children(der, algorithm)[0]).toString('hex');
  const hash = SIGNATURE_HASHES[oid];
  if (!hash) throw new OcspError('OCSP_basic_verify() failed (unsupported signature algorithm)');
  const signed = whole(der, tbs);
  const bits = der.subarray(signature.content + 1, signature.end);
  const checks = (key: KeyObject) => verify(hash, signed, key, bits);
  if (checks(issuer.publicKey)) return;
  const included = certs ? children(der, children(der, certs)[0]).map((c) => new X509Certificate(whole(der, c))) : [];
  for (const responder of included) {
    if (!responder.verify(issuer.publicKey)) continue;
    if (!(responder.keyUsage ?? []).includes(OCSP_SIGNING)) continue;
    if (checks(responder.publicKey)) return;
  }
  throw new OcspError('OCSP_basic_verify() failed (signature or signer not trusted)');
}
