// Run `fn` over `items` with at most `limit` in flight; resolves when all are done.
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  // A shared cursor, not shift(): shifting a 100,000-item array costs a copy of the rest each time.
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
