/**
 * OCSP stapling (`ssl_stapling`, `ssl_stapling_file`): the OCSP response a server staples to its
 * certificate when a client asks for one (`status_request`), through Node's `OCSPRequest` event.
 * With `ssl_stapling_file` the response is the file's (DER, as `openssl ocsp -respout` writes
 * it), read when the worker starts, stapled as it is (nginx does not check a stapling file
 * either). Without a file nginx asks the certificate's OCSP responder itself; that is not done
 * here yet: the server staples nothing and says so once in the error log.
 */
import { ContextError, readRef, type FileRef } from './contexts';

/** Reads a stapling file; nginx's `d2i_OCSP_RESPONSE_bio` line when it is not an OCSP response. */
export function readStaplingFile(ref: FileRef): Buffer {
  const der = readRef(ref, (why) => `BIO_new_file("${ref.path}") failed (${why})`);
  if (!looksLikeOcspResponse(der)) throw new ContextError(`d2i_OCSP_RESPONSE_bio("${ref.path}") failed (not a DER OCSP response)`, ref.at);
  return der;
}

/**
 * An OCSPResponse is `SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT ... OPTIONAL }`:
 * checked as far as its outer SEQUENCE spanning the file and its status coming first.
 */
function looksLikeOcspResponse(der: Buffer): boolean {
  if (der.length < 5 || der[0] !== 0x30) return false;
  let at = 1;
  let length = der[at++];
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes > 4) return false;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[at++];
  }
  return at + length === der.length && der[at] === 0x0a && der[at + 1] === 1;
}
