/**
 * The OCSP pieces of stapling, as tables: the request is what `openssl ocsp` reads as a
 * request for the server certificate; a response `openssl ocsp` made passes nginx's checks
 * (and the signature check), a revoked one and a stale one do not, and every truncation or
 * corruption of a response is refused with an Error (never another throw, never a hang).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readNode } from '../src/modules/ssl/der';
import { checkOcspResponse, ocspRequest } from '../src/modules/ssl/ocsp';
import { makePrefix } from './helpers/gateway-process';
import { makePki } from './helpers/tls-pki';

describe('OCSP for stapling', () => {
  let prefix: string;
  let pki: string;
  let leaf: X509Certificate;
  let issuer: X509Certificate;
  let good: Buffer;
  beforeAll(() => {
    prefix = makePrefix();
    pki = makePki(prefix);
    leaf = new X509Certificate(readFileSync(path.join(pki, 'server.pem')));
    issuer = new X509Certificate(readFileSync(path.join(pki, 'ca.pem')));
    good = readFileSync(path.join(pki, 'server.ocsp'));
  }, 60000);
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));

  /** A response `openssl ocsp` makes from an index line, signed by `signer`. */
  function response(indexLine: string, signer = 'ca', extra: string[] = []): Buffer {
    writeFileSync(path.join(pki, 'index-test.txt'), `${indexLine}\n`);
    execFileSync('openssl', ['ocsp', '-index', 'index-test.txt', '-rsigner', `${signer}.pem`, '-rkey', `${signer}.key`, '-CA', 'ca.pem', '-issuer', 'ca.pem', '-cert', 'server.pem', '-respout', 'test.ocsp', ...extra], { cwd: pki, stdio: 'ignore' });
    return readFileSync(path.join(pki, 'test.ocsp'));
  }
  const serial = () => leaf.serialNumber;

  test('the request is one openssl reads as asking for the server certificate', () => {
    writeFileSync(path.join(pki, 'req.der'), ocspRequest(leaf, issuer));
    const text = execFileSync('openssl', ['ocsp', '-reqin', 'req.der', '-req_text'], { cwd: pki }).toString();
    expect(text).toContain('Hash Algorithm: sha1');
    expect(text).toContain(`Serial Number: ${serial()}`);
    // The same CertID openssl makes for that certificate and issuer.
    const own = execFileSync('openssl', ['ocsp', '-issuer', 'ca.pem', '-cert', 'server.pem', '-reqout', 'own.der', '-no_nonce'], { cwd: pki }) && readFileSync(path.join(pki, 'own.der'));
    expect(ocspRequest(leaf, issuer).equals(own)).toBe(true);
  });

  test('a good response passes, signature checked or not, and says its nextUpdate', () => {
    expect(checkOcspResponse(good, leaf, issuer, true).nextUpdate).toBeGreaterThan(Date.now());
    expect(checkOcspResponse(good, leaf, issuer, false).nextUpdate).toBeGreaterThan(Date.now());
  });

  test.each([
    ['revoked', () => response(`R\t301231000000Z\t201231000000Z\t${serial()}\tunknown\t/CN=a.test`, 'ca', ['-ndays', '1']), false, /certificate status "revoked" in the OCSP response/],
    ['unknown (not in the index)', () => response(`V\t301231000000Z\t\t01\tunknown\t/CN=other`, 'ca', ['-ndays', '1']), false, /certificate status "unknown" in the OCSP response/],
    ['signed by another key, checked', () => response(`V\t301231000000Z\t\t${serial()}\tunknown\t/CN=a.test`, 'rogue', ['-ndays', '1']), true, /OCSP_basic_verify\(\) failed/],
    ['past its nextUpdate', () => response(`V\t301231000000Z\t\t${serial()}\tunknown\t/CN=a.test`, 'ca', ['-nmin', '1']), false, /OCSP_check_validity\(\) failed/],
  ])('%s: refused', (_name, make, verifySignature, reason) => {
    const der = make();
    const later = Date.now() + (String(reason).includes('validity') ? 20 * 60_000 : 0);
    expect(() => checkOcspResponse(der, leaf, issuer, verifySignature, later)).toThrow(reason);
  });

  test('a signed by another key response passes when the signature is not checked, as nginx without ssl_stapling_verify', () => {
    const der = response(`V\t301231000000Z\t\t${serial()}\tunknown\t/CN=a.test`, 'rogue', ['-ndays', '1']);
    expect(() => checkOcspResponse(der, leaf, issuer, false)).not.toThrow();
  });

  test('every truncation and every single-byte corruption: an Error or a pass, nothing else', () => {
    for (let cut = 0; cut < good.length; cut++) expect(() => checkOcspResponse(good.subarray(0, cut), leaf, issuer, true)).toThrow(Error);
    // Where the signed ResponseData lies: response bytes' OCTET STRING -> BasicOCSPResponse -> its first element.
    const basicAt = good.indexOf(Buffer.from('06092b0601050507300101', 'hex')) + 11;
    const basic = readNode(good, basicAt);
    const tbs = readNode(good, readNode(good, basic.content).content);
    expect(tbs.end - tbs.start).toBeGreaterThan(100);
    const refusedAt: number[] = [];
    for (let at = 0; at < good.length; at++) {
      const bad = Buffer.from(good);
      bad[at] ^= 0xff;
      try {
        checkOcspResponse(bad, leaf, issuer, true);
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toMatch(/^(d2i_OCSP_RESPONSE\(\) failed|OCSP|certificate status)/);
        refusedAt.push(at);
      }
    }
    // A byte the signature covers is never changed unnoticed.
    for (let at = tbs.start; at < tbs.end; at++) expect(refusedAt).toContain(at);
  });
});
