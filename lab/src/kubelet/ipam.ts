/**
 * Pod IPs from a loopback range (default 127.1.0.0/16; Linux routes all of 127.0.0.0/8 to lo, so
 * every address in it can be bound). Addresses are handed out in rotation from a random starting
 * point, so a freed address is reused as late as possible (a connection to an old pod never reaches a
 * new one by accident) and two labs on one machine rarely pick the same addresses (the PodWorker also
 * checks that the ports are free). Addresses ending in .0 or .255 are skipped. The LabKubelet owns
 * its Ipam.
 */
export class Ipam {
  private readonly base: number;
  private readonly size: number;
  private cursor = 0;
  private readonly used = new Map<string, string>(); // ip -> owner

  /** `start`: offset of the first address handed out (default random). */
  constructor(cidr = '127.1.0.0/16', start?: number) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
    if (!m) throw new Error(`bad CIDR ${cidr}`);
    const [a, b, c, d, bits] = m.slice(1).map(Number) as [number, number, number, number, number];
    if (a !== 127) throw new Error(`pod CIDR ${cidr} is not in 127.0.0.0/8: the lab only uses loopback addresses`);
    if (bits < 8 || bits > 30) throw new Error(`pod CIDR ${cidr}: prefix must be /8../30`);
    this.size = 2 ** (32 - bits);
    this.base = ((((a << 24) >>> 0) + (b << 16) + (c << 8) + d) & ~(this.size - 1)) >>> 0;
    this.cursor = (start ?? Math.floor(Math.random() * this.size)) % this.size;
  }

  static toString(n: number): string {
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }

  /** True when `ip` lies in this range. */
  contains(ip: string): boolean {
    const parts = ip.split('.').map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return false;
    const n = (((parts[0] as number) << 24) >>> 0) + ((parts[1] as number) << 16) + ((parts[2] as number) << 8) + (parts[3] as number);
    return n >= this.base && n < this.base + this.size;
  }

  /** Claims a specific address (e.g. a pod's IP from an earlier kubelet); false if taken or outside. */
  claim(ip: string, owner: string): boolean {
    if (!this.contains(ip) || (this.used.has(ip) && this.used.get(ip) !== owner)) return false;
    this.used.set(ip, owner);
    return true;
  }

  /** Allocates the next free address for `owner`; throws when the range is full. */
  allocate(owner: string): string {
    for (let i = 0; i < this.size; i++) {
      const n = this.base + ((this.cursor + i) % this.size);
      const last = n & 255;
      if (last === 0 || last === 255) continue;
      const ip = Ipam.toString(n);
      if (this.used.has(ip)) continue;
      this.cursor = (this.cursor + i + 1) % this.size;
      this.used.set(ip, owner);
      return ip;
    }
    throw new Error('pod IP range exhausted');
  }

  release(ip: string): void {
    this.used.delete(ip);
  }
}
