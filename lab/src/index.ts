/**
 * @herald/lab: the rollout lab and the demo, kept out of the product. The product's `herald lab` and `herald demo`
 * find this module at run time (src/cli/lab.ts); the lab imports the product, never the reverse.
 *
 * The harness (control plane, lab kubelet, backends) is imported by path by the lab's and the product's e2e
 * tests: ./harness, ./kube, ./kubelet, ./backend.
 */
export { lab } from './cli';
export { demo } from './demo/demo';
