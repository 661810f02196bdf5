import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'sdk/typescript/dist/', 'generated/', 'node_modules/', 'coverage/', '.data/', '.venv-contract/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // Dependencies are used through their public API only: a fix to one is a pinned file in patches/ (see docs/architecture.md).
    files: ['src/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // Deep paths into a package (its dist/, lib/ ...), or any subpath of the ones we patch or wrap.
              regex: '^((@[^/]+/)?[^./@][^/]*/(dist|lib|src|build|internal)(/|$)|(express-openapi-validator|knex|pg|helmet|express|swagger-ui-express|path-to-regexp)/)',
              message: "A dependency's internals: use its public API, or patch it in patches/.",
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.name='createRequire']", message: "createRequire reaches modules a dependency keeps to itself: use its public API, or patch it in patches/." },
        { selector: "ImportDeclaration[source.value=/^(node:)?module$/] > ImportSpecifier[imported.name='createRequire']", message: "createRequire reaches modules a dependency keeps to itself: use its public API, or patch it in patches/." },
        { selector: "CallExpression[callee.object.name='Object'][callee.property.name=/^(defineProperty|defineProperties|assign|setPrototypeOf)$/] > MemberExpression.arguments:first-child[property.name=/^(request|response)$/]", message: "Express's request and response prototypes are Express's: use middleware or handlers." },
        { selector: "AssignmentExpression > MemberExpression.left[object.type='MemberExpression'][object.property.name=/^(request|response)$/]", message: "Express's request and response prototypes are Express's: use middleware or handlers." },
        { selector: "MemberExpression[object.name=/^(db|knex|trx)$/][property.name='client']", message: "knex's client is internal: use the Knex instance's public API (on, destroy, raw)." },
      ],
    },
  },
);
