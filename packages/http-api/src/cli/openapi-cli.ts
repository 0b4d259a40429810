/**
 * `pnpm openapi`: writes the API's OpenAPI document to openapi.json at the repository root. `pnpm openapi --check`
 * writes nothing and exits 1 when that file differs from what the code generates (CI runs it), 0 when it is current.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { generateOpenApiDocument } from '../plugins/openapi-document.js';

const FILE = 'openapi.json';
// The repository root, from src/ as from dist/.
const target = new URL(`../../../../${FILE}`, import.meta.url);

/** 1-based number of the first line where two texts differ. */
function firstDifference(a: string, b: string): number {
  const left = a.split('\n');
  const right = b.split('\n');
  const index = left.findIndex((line, i) => line !== right[i]);
  return (index === -1 ? left.length : index) + 1;
}

async function main(args: readonly string[]): Promise<number> {
  const check = args.includes('--check');
  const unknown = args.filter((arg) => arg !== '--check');
  if (unknown.length > 0) {
    process.stderr.write(`openapi: unknown argument ${unknown[0]}\nusage: pnpm openapi [--check]\n`);
    return 64;
  }
  const generated = await generateOpenApiDocument();
  if (!check) {
    await writeFile(target, generated);
    process.stdout.write(`wrote ${FILE}\n`);
    return 0;
  }
  const committed = await readFile(target, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (committed === generated) {
    process.stdout.write(`${FILE} is up to date\n`);
    return 0;
  }
  const why =
    committed === undefined
      ? 'is missing'
      : `differs from what the code generates (first at line ${firstDifference(committed, generated)})`;
  process.stderr.write(`openapi: ${FILE} ${why}: run \`pnpm openapi\` and commit the result\n`);
  return 1;
}

process.exitCode = await main(process.argv.slice(2));
