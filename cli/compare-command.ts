// tsclab compare: the options only; tools/compare.ts (the matrix, the runs) loads when the command runs.
import { Command } from 'commander';

export interface CompareOpts { recipes?: string; recipeFile?: string[]; rules?: string; situations?: string; json?: boolean }

export function compareCommand(setCode: (c: number) => void): Command {
  return new Command('compare')
    .description('restore sequences side by side: recipes x KVM rule sets x situations, one table of what the guest saw')
    .exitOverride()
    .option('--recipes <names>', 'built-in recipes, comma-separated (default: every restore recipe; `tsclab compare --list`)')
    .option('--recipe-file <file...>', 'your own recipes: JSON files {"name": ..., "steps": [...]} (steps as in docs/vmm-steps.md)')
    .option('--rules <sets>', 'KVM rule sets, comma-separated (default: 4.12-5.9,5.10-6.6,6.7+)')
    .option('--situations <names>', 'comma-separated (default: all; `tsclab compare --list`)')
    .option('--list', 'list the recipes and situations')
    .option('--json', 'print the cells as JSON')
    .action(async (o: CompareOpts & { list?: boolean }) => {
      const { runCompare } = await import('./compare.js');
      setCode(await runCompare(o));
    });
}
