// SPIRE's own spire-server and spire-agent (built by scripts/setup).
export { spireBinaries, SPIRE_VERSION } from '../../demo/lib/tools.ts';
