// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.ticketboss/**', 'bench/results/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      // Fastify plugins and handlers are async by contract, awaiting or not.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The domain is pure: rules and use cases only, no I/O and no frameworks.
    files: ['packages/domain/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            'node:*',
            'fastify',
            'fastify/*',
            '@fastify/*',
            'pg',
            'kysely',
            '@sinclair/*',
            'pino',
            '@ticketboss/*',
          ],
        },
      ],
    },
  },
  {
    // The console's browser script: TypeScript checks its names against the DOM (console/tsconfig.json).
    files: ['packages/http-api/console/**/*.js'],
    rules: { 'no-undef': 'off' },
  },
  {
    files: ['**/*.test.ts'],
    // Asymmetric matchers (expect.any, expect.objectContaining) are typed `any`.
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
);
