export { freePort } from '../../src/ports.js';
