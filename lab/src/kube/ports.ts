/** Free TCP ports on loopback. */
import { createServer } from 'node:net';

/**
 * Returns `count` distinct ports that were free on `host` a moment ago (the OS picked them). They are
 * released before returning, so another process could take one in between; the lab's processes bind
 * them within a second, and the OS hands out ephemeral ports in rotation, which keeps that unlikely.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<import('node:net').Server>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, host, () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
