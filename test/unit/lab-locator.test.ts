/** `herald lab` and `herald demo` find the lab package at run time (src/cli/lab.ts), with a clear error without it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLab, LAB_PACKAGE } from '../../src/cli/lab';

test('the lab package is found by name and exposes lab and demo', () => {
  const entry = loadLab();
  assert.equal(typeof entry.lab, 'function');
  assert.equal(typeof entry.demo, 'function');
});

test('without the lab package both commands say what is missing', () => {
  const absent = (id: string): string => {
    throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
  };
  assert.throws(() => loadLab(absent), new RegExp(`the lab is not installed: .*${LAB_PACKAGE.replace('/', '\\/')}.*npm install`));
});

test('a module that is not the lab is refused', () => {
  assert.throws(() => loadLab(() => require.resolve('yaml')), /not the @herald\/lab package/);
});
