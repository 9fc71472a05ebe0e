// How leasehold's code is bundled (one CommonJS file, whitespace- and syntax-minified), shared by the build and
// by the scripts that measure what a bundle costs, so their measurements match the shipped executable.
export const bundleOptions = (version) => ({
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  legalComments: 'none',
  // Whitespace and syntax only: names stay readable in the stack traces of internal errors.
  minifyWhitespace: true,
  minifySyntax: true,
  define: { LEASEHOLD_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
});
