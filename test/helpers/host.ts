// Facts about the machine the tests run on, shared by every suite.

/** Root can build namespaces, mounts and links; suites that need them skip with their reason otherwise. */
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
