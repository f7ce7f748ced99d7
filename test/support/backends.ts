export { startBackend, type Backend } from '../../src/demo/backend';
