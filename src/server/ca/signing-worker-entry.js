// Entry of a signing-pool worker thread. Plain JavaScript, like
// src/cli/start.js: it turns Node's compile cache on in this thread before
// loading the TypeScript body, so a worker start skips type stripping (the
// cache the main thread enabled does not reach worker threads).
import { useCompileCache } from '../../cli/compile-cache.js';

useCompileCache(process.env);
await import('./signing-worker.ts');
