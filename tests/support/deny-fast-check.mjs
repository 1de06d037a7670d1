// A module-resolution hook for a child process: loading fast-check fails. The
// CLI test runs commands under it to show that only `fuzz` loads the fuzzer.
export async function resolve(specifier, context, next) {
  if (specifier === 'fast-check' || specifier.startsWith('fast-check/')) throw new Error(`fast-check was loaded (by ${context.parentURL})`);
  return next(specifier, context);
}
