/**
 * `herald lab` and `herald demo` live in the lab package (@herald/lab, the repository's lab/ workspace), not in
 * the product: this module finds it at run time and hands over the arguments. The product never imports the lab
 * at compile time; without the lab (a product-only install) both commands fail with a message saying so.
 */

/** What the lab package exports for the product's CLI. */
interface LabEntry {
  lab(argv: string[]): Promise<void>;
  demo(argv: string[]): Promise<void>;
}

export const LAB_PACKAGE = '@herald/lab';

/** Loads the lab package; throws a clear error when it is not installed or not built. */
export function loadLab(resolve: (id: string) => string = require.resolve): LabEntry {
  let entry: string;
  try {
    entry = resolve(LAB_PACKAGE);
  } catch {
    throw new Error(
      `the lab is not installed: \`herald lab\` and \`herald demo\` need the ${LAB_PACKAGE} package ` +
        '(the lab/ workspace of the Herald repository: run `npm install` and `make build` there)',
    );
  }
  const mod = require(entry) as Partial<LabEntry>;
  if (typeof mod.lab !== 'function' || typeof mod.demo !== 'function') {
    throw new Error(`${entry}: not the ${LAB_PACKAGE} package Herald expects (no lab/demo entry points)`);
  }
  return mod as LabEntry;
}
