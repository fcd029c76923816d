// Lint gate (CI: npm run lint). Besides typescript-eslint's recommended rules it enforces the import
// boundaries of GUIDE.md §2: the codec and packet layers import nothing above them, apps import neither the
// agent nor each other, the model imports no store driver.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const above = (...dirs) => dirs.map((d) => `**/${d}/**`);
const restrict = (patterns, message) => ['error', { patterns: [{ group: patterns, message }] }];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-console': 'error',
      // An ICU collator and its data cost an idle agent ~3 MB, and a locale's order differs from host to host.
      'no-restricted-properties': [
        'error',
        { property: 'localeCompare', message: 'sort with compareText or byName (src/util/order.ts)' },
        // Their first call sets V8's local time zone up through ICU (~0.6 MB of an idle agent).
        { property: 'toISOString', message: 'use isoTime (src/util/time.ts)' },
        { property: 'toUTCString', message: 'use httpDate (src/util/time.ts)' },
      ],
    },
  },
  {
    // Build scripts, run by Node (the agent bundle's boot is CommonJS: it compiles the bundle through node:vm).
    files: ['scripts/**/*.mjs', 'scripts/**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', Buffer: 'readonly', URL: 'readonly', performance: 'readonly' } },
  },
  {
    files: ['scripts/**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/openflow/**/*.ts', 'src/packet/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        above('agent', 'apps', 'view', 'flows', 'pipeline', 'store', 'model', 'api', 'cli', 'sandbox', 'ovsdb'),
        'the codec and packet layers are at the bottom: they import nothing of the layers above',
      ),
    },
  },
  {
    files: ['src/apps/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        above('agent', 'api', 'cli', 'sandbox'),
        'apps read the view and declare state: they never import the agent',
      ),
    },
  },
  {
    // Inside an app's folder, `../<name>/…` is another app.
    files: ['src/apps/*/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: above('agent', 'api', 'cli', 'sandbox'),
              message: 'apps read the view and declare state: they never import the agent',
            },
            { regex: '^\\.\\./(?!\\.\\.)[^/]+/', message: 'an app never imports another app: share through the view or the app platform' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/model/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        ['**/store/etcd*', '**/store/level*', '**/store/memory*', '**/store/engine*', ...above('agent', 'apps', 'api', 'cli')],
        'the model works on the Store interface, never a store implementation',
      ),
    },
  },
);
