/**
 * Keys and certificates of one lab control plane, made with the openssl command (Debian's openssl):
 * a CA, the apiserver's serving certificate for 127.0.0.1/localhost, the service-account key pair
 * that signs and verifies service-account tokens, and one client certificate (CN herald-cert-user, group
 * herald-cert-readers; the apiserver trusts the CA for clients) for kubeconfigs with certificate users.
 * The lab's own clients authenticate with static bearer tokens (see kubeconfig.ts).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  /** Service-account signing key (private, PEM) and its public key (PEM). */
  saKey: string;
  saPub: string;
  /** Client certificate and key: user herald-cert-user, group herald-cert-readers (no rights until bound). */
  clientCert: string;
  clientKey: string;
}

/** The user and group of Pki.clientCert. */
export const CERT_USER = 'herald-cert-user';
export const CERT_GROUP = 'herald-cert-readers';

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 20_000 });
  } catch (err) {
    throw new Error(`openssl ${args[0]} failed: ${(err as Error).message}`);
  }
}

/**
 * Writes the files of a fresh PKI into `dir` (which must exist) and returns their paths. `extraSans` are
 * more subjectAltName entries of the serving certificate (`IP:10.0.0.1`, `DNS:name`).
 */
export async function generatePki(dir: string, extraSans: readonly string[] = []): Promise<Pki> {
  const p: Pki = {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    servingCert: join(dir, 'apiserver.crt'),
    servingKey: join(dir, 'apiserver.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await Promise.all([
    openssl(['req', '-x509', ...ec, '-keyout', p.caKey, '-out', p.caCert, '-days', '30', '-subj', '/CN=herald-lab-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']),
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', p.saKey]),
  ]);
  const san = 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,' +
    'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local' + extraSans.map((x) => `,${x}`).join('');
  await Promise.all([
    openssl(['req', '-x509', ...ec, '-keyout', p.servingKey, '-out', p.servingCert, '-days', '30',
      '-subj', '/CN=kube-apiserver', '-CA', p.caCert, '-CAkey', p.caKey, '-addext', san,
      '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature',
      '-addext', 'extendedKeyUsage=serverAuth']),
    openssl(['pkey', '-in', p.saKey, '-pubout', '-out', p.saPub]),
    openssl(['req', '-x509', ...ec, '-keyout', p.clientKey, '-out', p.clientCert, '-days', '30',
      '-subj', `/O=${CERT_GROUP}/CN=${CERT_USER}`, '-CA', p.caCert, '-CAkey', p.caKey,
      '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature',
      '-addext', 'extendedKeyUsage=clientAuth']),
  ]);
  return p;
}
