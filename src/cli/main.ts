// Entry point: dispatch to one module per subcommand. Each command is
// `(argv) => Promise<exitCode>`, prints its own output and never calls process.exit itself.
import { EXIT, L2OError, describeError } from '../errors.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  ls: async () => (await import('./ls.js')).runLs,
  inspect: async () => (await import('./inspect.js')).runInspect,
  export: async () => (await import('./export.js')).runExportCommand,
  validate: async () => (await import('./validate.js')).runValidate,
  migrate: async () => (await import('./migrate.js')).runMigrate,
  check: async () => (await import('./check.js')).runCheck,
};

/** Commands whose work runs in worker pools, hot loops over every layer byte (see v8-tuning.ts). */
const BULK_COMMANDS = new Set(['export', 'check', 'migrate', 'validate']);

export const USAGE = `usage: legacy2oci <command> [options]

commands:
  ls        [--root DIR] [--all] [--json]            list the images in a legacy Docker root
  inspect   REF [--root DIR] [--json]                show one image's layer chain and config
  check     [REF...] [--root DIR] [--json]           verify every layer and compute diffIDs and image IDs; writes nothing
  export    REF... OUT [--root DIR] [options]        write OCI image layouts
  validate  LAYOUT [--ref NAME] [--deep|--shallow]   check an OCI image layout
  migrate   [CONFIG] [--dry-run] [--json]           batch-migrate whole hosts from migrate.toml

Run 'legacy2oci <command> --help' for a command's options.
The root defaults to $LEGACY2OCI_ROOT, then /var/lib/docker.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? EXIT.OK : EXIT.USAGE;
  }
  if (name === '--version') {
    process.stdout.write('legacy2oci 0.1.0\n');
    return EXIT.OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`legacy2oci: unknown command '${name}'\n${USAGE}\n`);
    return EXIT.USAGE;
  }
  let prewarmed = false;
  try {
    if (BULK_COMMANDS.has(name)) (await import('./v8-tuning.js')).tuneV8ForBulkWork();
    if (name === 'export' || name === 'check') prewarmed = await prewarm(name, rest);
    const command = await load();
    return await command(rest);
  } catch (err) {
    process.stderr.write(`legacy2oci ${name}: ${describeError(err)}\n`);
    if (process.env.LEGACY2OCI_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return err instanceof L2OError ? err.exitCode : EXIT.PARTIAL;
  } finally {
    if (prewarmed) await (await import('../engine/prewarm.js')).releasePrewarmedPool();
  }
}

/** Start the layer workers while the command's modules load and the root is planned (see engine/prewarm.ts). */
async function prewarm(kind: 'export' | 'check', argv: string[]): Promise<boolean> {
  const { availableParallelism } = await import('node:os');
  const { jobsFromArgv, prewarmLayerPool } = await import('../engine/prewarm.js');
  const jobs = jobsFromArgv(argv, availableParallelism());
  if (jobs === null) return false;
  prewarmLayerPool(kind, jobs);
  return true;
}
