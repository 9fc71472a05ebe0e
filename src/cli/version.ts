// Set from package.json at bundle time (scripts/build.mjs, vitest.config.mts): the executable carries no package.json.
declare const LEASEHOLD_VERSION: string;
export const VERSION: string = LEASEHOLD_VERSION;
