// Waiting with a bound.

/** Whether `done` settles within `ms`; the timer is cleared either way. */
export async function endsWithin(done: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: Timer | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const result = await Promise.race([done.then(() => true as const), timeout]);
  clearTimeout(timer);
  return result;
}
