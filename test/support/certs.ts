/**
 * Test certificates made at test time with the system's openssl (no key is ever committed): a CA, Herald's
 * server certificate (localhost, 127.0.0.1), and client certificates with chosen SANs, signed by that CA or by
 * another one.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA's certificate file. */
  readonly ca: string;
  /** Herald's certificate: by default DNS:localhost, DNS:herald-xds.test, IP:127.0.0.1 (see makeTestPki's serverSan). */
  readonly server: KeyPair;
  /** A certificate for `san` (e.g. "URI:spiffe://cluster.local/ns/shop/sa/web"), signed by this CA. */
  issue(name: string, san: string, serverAuth?: boolean): KeyPair;
  /** The same from a CA nobody trusts. */
  issueUntrusted(name: string, san: string): KeyPair;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`], dir);
}

function sign(dir: string, ca: string, name: string, san: string, serverAuth: boolean): KeyPair {
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  fs.writeFileSync(
    path.join(dir, `${name}.ext`),
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=${serverAuth ? 'serverAuth' : 'clientAuth'}\n`,
  );
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`], dir);
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

/**
 * A fresh PKI in a temporary folder (remove() deletes it, keys included). `serverSan` replaces the SANs of
 * Herald's certificate, e.g. the herald-xds Service's DNS names when sidecars reach Herald in a cluster.
 */
export function makeTestPki(opts: { serverSan?: string } = {}): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  const server = sign(dir, 'ca', 'server', opts.serverSan ?? 'DNS:localhost,DNS:herald-xds.test,IP:127.0.0.1', true);
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    server,
    issue: (name, san, serverAuth = false) => sign(dir, 'ca', name, san, serverAuth),
    issueUntrusted: (name, san) => sign(dir, 'other-ca', name, san, false),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
