export async function demo(_argv: string[]): Promise<void> {
  throw new Error('not yet');
}
