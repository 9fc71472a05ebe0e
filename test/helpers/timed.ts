// How long an async call took, and what it gave: its value or what it threw (typed loosely for expect()).
export async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value?: T; error?: any }> {
  const t = performance.now();
  try {
    const value = await f();
    return { ms: performance.now() - t, value };
  } catch (error) {
    return { ms: performance.now() - t, error };
  }
}
