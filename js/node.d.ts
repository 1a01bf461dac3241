// Types of the Node entry point 'threadmem/node'.
export * from './index.js';
