// The release version, kept equal to package.json's by test/cli/version.test.ts (the bundle carries no package.json).
export const VERSION = '0.1.0';
