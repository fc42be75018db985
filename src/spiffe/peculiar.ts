// @peculiar/x509 needs the Reflect metadata polyfill loaded before it; every
// Herald module reaches the library through here so the order is guaranteed.
import 'reflect-metadata';
import * as px509 from '@peculiar/x509';

export { px509 };
