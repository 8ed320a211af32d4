// `pnpm infra <command> --env <env>`: see infra/README.md and src/cli.ts.
import { main } from '../src/cli.ts';

process.exitCode = await main(process.argv.slice(2));
