/**
 * Request bodies of the legacy registry API, read as Flask's `request.form` reads them: urlencoded and
 * multipart/form-data fields (file parts are not form fields), the first value of a repeated name winning. Any
 * other content type reads as an empty form (the original then answers 400 for the missing fields).
 *
 * Bounded: a body past `maxBytes` is `{ tooLarge: true }` (the server answers 413); the rest of it is drained,
 * not read into memory.
 */
import type * as http from 'node:http';

export type Form = ReadonlyMap<string, string>;
export type FormResult = { readonly form: Form } | { readonly tooLarge: true } | { readonly problem: string };

/** Reads and parses the body. Never rejects. */
export function readForm(req: http.IncomingMessage, maxBytes: number): Promise<FormResult> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    let size = 0;
    let over = Number.isFinite(declared) && declared > maxBytes;
    const chunks: Buffer[] = [];
    if (over) resolve({ tooLarge: true });
    req.on('data', (c: Buffer) => {
      if (over) return; // drained, not kept
      size += c.length;
      if (size > maxBytes) {
        over = true;
        chunks.length = 0;
        resolve({ tooLarge: true });
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
      resolve(parseBody(String(req.headers['content-type'] ?? ''), Buffer.concat(chunks)));
    });
    req.on('error', () => resolve({ problem: 'body unreadable' }));
  });
}

export function parseBody(contentType: string, body: Buffer): FormResult {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return { form: firstValues(new URLSearchParams(body.toString('utf8'))) };
  if (type === 'multipart/form-data') {
    const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
    const boundary = m?.[1] ?? m?.[2];
    if (!boundary) return { problem: 'multipart body without a boundary' };
    return parseMultipart(body, boundary);
  }
  return { form: new Map() };
}

function firstValues(entries: Iterable<[string, string]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of entries) if (!out.has(k)) out.set(k, v);
  return out;
}

/** multipart/form-data (RFC 7578): text fields only; parts with a filename are files and are left out. */
export function parseMultipart(body: Buffer, boundary: string): FormResult {
  const delimiter = Buffer.from(`--${boundary}`);
  const fields: Array<[string, string]> = [];
  let at = body.indexOf(delimiter);
  if (at < 0) return { problem: 'multipart body without its boundary' };
  for (;;) {
    at += delimiter.length;
    if (body.subarray(at, at + 2).toString() === '--') break; // the closing delimiter
    if (body.subarray(at, at + 2).toString() === '\r\n') at += 2;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), at);
    if (next < 0) return { problem: 'multipart body is not terminated' };
    const part = body.subarray(at, next);
    const split = part.indexOf('\r\n\r\n');
    const headers = (split < 0 ? part : part.subarray(0, split)).toString('utf8');
    const value = split < 0 ? '' : part.subarray(split + 4).toString('utf8');
    const disposition = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1] ?? '';
    const name = /;\s*name="((?:[^"\\]|\\.)*)"/i.exec(disposition)?.[1] ?? /;\s*name=([^;\s]+)/i.exec(disposition)?.[1];
    if (name !== undefined && !/;\s*filename\*?=/i.test(disposition)) fields.push([name.replace(/\\(.)/g, '$1'), value]);
    at = next + 2;
  }
  return { form: firstValues(fields) };
}
