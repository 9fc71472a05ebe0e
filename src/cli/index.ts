// The operator's CLI. Placeholder entry until the CLI issue lands: it says what exists today.
export async function runCli(argv: string[]): Promise<number> {
  const { Command } = await import('commander');
  const program = new Command('leasehold').description('CNI IPAM plugin (run with CNI_COMMAND set) and operator tool');
  program.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch {
    return 1;
  }
  return 0;
}
