/**
 * Where the lab finds the product it runs as a separate process: the compiled `herald` command. The lab and the
 * product compile into one dist/ (dist/src, dist/lab/src), so the path below, written relative to this source
 * file, is also right relative to its compiled form.
 */
export const HERALD_CLI: string = require.resolve('../../src/cli/main');
