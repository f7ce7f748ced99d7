/**
 * The product (src/) ships alone: no import in src/ reaches outside src/ (the lab, the tests, the benchmarks), none
 * names the lab package, and every package it imports is a runtime dependency of the product's package.json.
 * (The product finds the lab at run time by package name only: src/cli/lab.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { builtinModules } from 'node:module';
import { repoRoot } from '../support/repo';

const root = repoRoot();
const src = path.join(root, 'src');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier of a file: static imports and re-exports, import(), require() and require.resolve(). */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire(?:\.resolve)?\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

/** The package a bare specifier names: "@scope/name/x" → "@scope/name", "name/x" → "name". */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

test('the specifier scanner finds every import form', () => {
  const text = `import a from './a';\nimport type { B } from "../b";\nexport { c } from './c';\nimport './side';\n` +
    `const d = await import('./d');\nconst e = require('e/x');\nrequire.resolve('@s/f/g');\nimport {\n  h,\n} from 'h';`;
  assert.deepEqual(specifiers(text).sort(), ['../b', './a', './c', './d', './side', '@s/f/g', 'e/x', 'h'].sort());
});

test('no import in src/ reaches outside src/ or names the lab', () => {
  const bad: string[] = [];
  const files = tsFiles(src);
  assert.ok(files.length > 20 && files.some((f) => f.endsWith(path.join('cli', 'main.ts'))), `only ${files.length} files under ${src}`);
  for (const file of files) {
    const rel = path.relative(root, file);
    for (const spec of specifiers(fs.readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) {
        // The product's own package.json (read for `herald version`, relative to the compiled file) is the one exception.
        if (spec.endsWith('/package.json')) continue;
        const target = path.resolve(path.dirname(file), spec);
        if (path.relative(src, target).startsWith('..')) bad.push(`${rel}: ${spec}`);
      } else if (packageOf(spec) === '@herald/lab') bad.push(`${rel}: ${spec}`);
    }
  }
  assert.deepEqual(bad, [], 'src/ must not import the lab, the tests or anything else outside src/');
});

test('every package src/ imports is a runtime dependency of the product', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const deps = new Set(Object.keys(pkg.dependencies ?? {}));
  const builtins = new Set(builtinModules);
  const missing = new Set<string>();
  for (const file of tsFiles(src)) {
    for (const spec of specifiers(fs.readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
      if (!deps.has(packageOf(spec))) missing.add(`${path.relative(root, file)}: ${spec}`);
    }
  }
  assert.deepEqual([...missing], []);
});
