// tsclab compare's action: options to tools/compare.ts's matrix, the table or JSON out.
import { readFileSync } from 'node:fs';
import { UsageError, EXIT_OK, toJson } from './output.js';
import { compare, renderCompare, RESTORE_RECIPES, SITUATIONS, type RecipeSpec } from '../tools/compare.js';
import { RECIPES } from '../sim/vmm/recipes.js';
import { resolveRuleSet } from '../sim/kvm/eras.js';
import { parseJsonStrict } from '../sim/strict-json.js';
import type { CompareOpts } from './compare-command.js';

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((x) => x.trim()).filter(Boolean));

/** A user's recipe file: {"name": "...", "steps": [...]}. */
function recipeFile(file: string): RecipeSpec {
  let raw: unknown;
  try { raw = parseJsonStrict(readFileSync(file, 'utf8')); } catch (e) { throw new UsageError(`--recipe-file ${file}: ${(e as Error).message}`); }
  const r = raw as { name?: unknown; steps?: unknown };
  if (raw === null || typeof raw !== 'object' || typeof r.name !== 'string' || !r.name || !Array.isArray(r.steps)) {
    throw new UsageError(`--recipe-file ${file}: expected {"name": "...", "steps": [...]}`);
  }
  return { name: r.name, steps: r.steps };
}

export async function runCompare(o: CompareOpts & { list?: boolean }): Promise<number> {
  if (o.list) {
    console.log(['recipes:', ...RESTORE_RECIPES.map((n) => `  ${n.padEnd(30)} ${RECIPES[n].description}`),
      'situations:', ...SITUATIONS.map((s) => `  ${s.name.padEnd(30)} ${s.description}`)].join('\n'));
    return EXIT_OK;
  }
  const rules = list(o.rules)?.map((r) => {
    const x = resolveRuleSet(r);
    if (typeof x !== 'string') throw new UsageError(`--rules: ${x.error}`);
    return x;
  });
  const recipes: RecipeSpec[] | undefined = o.recipes === undefined && !o.recipeFile ? undefined
    : [...(list(o.recipes) ?? []), ...(o.recipeFile ?? []).map(recipeFile)];
  for (const r of recipes ?? []) {
    if (typeof r === 'string' && !RESTORE_RECIPES.includes(r)) throw new UsageError(`--recipes: "${r}" is not a built-in restore recipe (${RESTORE_RECIPES.join(', ')}); your own with --recipe-file`);
  }
  const situations = list(o.situations);
  for (const n of situations ?? []) {
    if (!SITUATIONS.some((x) => x.name === n)) throw new UsageError(`--situations: "${n}" is not a situation (${SITUATIONS.map((x) => x.name).join(', ')})`);
  }
  const cells = compare({ recipes, rules, situations });
  console.log(o.json ? toJson(cells) : renderCompare(cells));
  return EXIT_OK;
}
