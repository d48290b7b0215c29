// typescript-eslint with type-aware rules over everything that ships or tests it. Run from the
// project folder: npm run lint.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
  ...layers(["core"], ["run"], ["queue"], ["disclosure", "approval"], ["pass"], ["people"], ["ui"], ["commands"]),
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
