/**
 * Reading Herald's admin API from the command line (`herald status`, `herald config`): one or more replicas by
 * URL, with a bounded time per request and an error naming the replica.
 */
export const DEFAULT_ADMIN = 'http://127.0.0.1:18001';

/** `a,b` → normalised base URLs (a bare host:port gets http://). */
export function adminUrls(list: string | undefined): string[] {
  return (list ?? DEFAULT_ADMIN)
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '')
    .map((u) => (/^https?:\/\//.test(u) ? u : `http://${u}`).replace(/\/+$/, ''));
}

export async function getJson(url: string, timeoutMs = 5000): Promise<any> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new Error(`${url}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw Object.assign(new Error(`${url}: HTTP ${res.status}: ${body?.error ?? text.slice(0, 200)}`), { status: res.status, body });
  return body;
}
