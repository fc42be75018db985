// herald-server's entry point: the compile cache first, then the commands.
import { useCompileCache } from '../compile-cache.ts';

useCompileCache();
await import('./commands.ts');
