export { startBackend, type Backend } from '../../lab/src/demo/backend';
