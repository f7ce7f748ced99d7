/**
 * The dashboard's static files (src/admin/ui/: plain HTML, CSS and a browser script; no build step, no CDN). They
 * are read from the source tree once, at first request, and served from memory. Only the files listed are served.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const FILES = ['index.html', 'app.js', 'style.css'] as const;

let loaded: Map<string, { type: string; body: Buffer }> | undefined;

/** The folder holding the assets: src/admin/ui next to this module's source (this module runs from dist/src/admin). */
function uiDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'src', 'admin', 'ui');
    if (fs.existsSync(path.join(candidate, 'index.html'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`dashboard files (src/admin/ui) not found above ${__dirname}`);
  }
}

/** One dashboard file by name, or undefined when it is not one of them. */
export function uiAsset(name: string): { type: string; body: Buffer } | undefined {
  if (!loaded) {
    const dir = uiDir();
    loaded = new Map(FILES.map((f) => [f, { type: TYPES[path.extname(f)]!, body: fs.readFileSync(path.join(dir, f)) }]));
  }
  return loaded.get(name);
}
