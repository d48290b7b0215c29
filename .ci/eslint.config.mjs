// typescript-eslint with type-aware rules over everything that ships or tests it. Run from the
// project folder: npm run lint.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** A `catch {}` without a binding lets an error go: it says why in a comment. */
const catchSaysWhy = {
  meta: { type: "suggestion", schema: [] },
  create(context) {
    return {
      CatchClause(node) {
        if (node.param) return;
        const comments = context.sourceCode.getCommentsInside(node.body);
        // Or a comment on the catch line itself: "} catch { // why".
        const onLine = context.sourceCode.getAllComments().some((c) => c.loc.start.line === node.loc.start.line);
        if (comments.length === 0 && !onLine) context.report({ node, message: "This catch lets an error go: say why in a comment inside it." });
      },
    };
  },
};

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "dist.*/**", "demo-workspace/**", "docs/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: process.cwd() } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/only-throw-error": "error",
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  // The layers of lib/, lowest first: a folder imports only from its own and lower layers, so
  // the import paths keep reading as the design (README, code map) and no circle can form.
  ...layers(["core"], ["run"], ["queue"], ["sign"], ["disclosure", "approval"], ["proof"], ["pass"], ["people"], ["ui"], ["commands"]),
  // Every error let go says why: `.catch(expected("why"))` (lib/core/expected.ts), and a bare
  // `catch {}` carries a comment. A reader never has to guess whether a failure was forgotten.
  {
    files: ["lib/**/*.ts", "scripts/**/*.ts"],
    plugins: { scq: { rules: { "catch-says-why": catchSaysWhy } } },
    rules: {
      "scq/catch-says-why": "error",
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.property.name='catch'] > ArrowFunctionExpression[params.length=0]",
          message: 'An error let go says why: .catch(expected("why", fallback)) from lib/core/expected.ts.',
        },
      ],
    },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);

/** One no-restricted-imports rule per folder of lib/, naming the folders above it (and beside it). */
function layers(...levels) {
  const all = levels.flat();
  return levels.flatMap((level, i) => {
    const below = levels.slice(0, i).flat();
    return level.map((folder) => {
      const forbidden = all.filter((f) => f !== folder && !below.includes(f));
      return {
        files: [`lib/${folder}/**/*.ts`],
        rules: {
          "no-restricted-imports": [
            "error",
            {
              patterns: forbidden.map((f) => ({
                group: [`../${f}/*`, `../../${f}/*`],
                message: `lib/${folder}/ is below lib/${f}/ in the layers (.ci/eslint.config.mjs): move the shared part down instead.`,
              })),
            },
          ],
        },
      };
    });
  });
}
