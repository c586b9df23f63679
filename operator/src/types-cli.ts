/**
 * `chakrator types [--out DIR] [--api-versions v1,apps/v1,…]`: the typings a reconciler
 * sees in the operator, written for a local TypeScript editor (VS Code or any other),
 * so editing `samples/01-message/reconciler.ts` under `skaffold dev` gives the same
 * completions and errors as the built-in editor.
 *
 * It writes, under DIR (default "."):
 *   tsconfig.json                    the operator's check options; "chakrator" and
 *                                    "chakrator/<apiVersion>" mapped by `paths`
 *   .chakrator/chakrator.d.ts        the contract (operator/types/chakrator.d.ts)
 *   .chakrator/kinds/<apiVersion>.d.ts  kind typings generated from the current kube
 *                                    context's /openapi/v3 (source/kinds.ts), every
 *                                    group-version it serves (or the listed ones)
 *   .chakrator/kinds-in-use.d.ts     when DIR has a reconciler.ts: its `for`/`owns`
 *                                    kinds typed, as the operator's compiler does
 * Without a reachable cluster it still writes the contract and tsconfig (children
 * stay loose) and says so on stderr; exit code 0. Exit 2 on usage errors.
 *
 * One difference remains: the operator reports a wrong child field at the field (it
 * checks `reconcile` with its return type); a plain `tsc` reports it at `reconcile`,
 * with the field's path in the message. Run `chakrator types` again after installing
 * or changing a CRD.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { readerForCurrentContext } from "./kube/openapi.ts";
import { declaredKinds, kindsInUseText } from "./reconcilers/kinds-in-use.ts";
import { KindTypings, type KindModule } from "./reconcilers/kinds.ts";

const CONTRACT = fileURLToPath(new URL("../types/chakrator.d.ts", import.meta.url));

/** What `chakrator types` parsed from its arguments. */
export interface TypesArgs {
  out: string;
  /** Only these group-versions; default every one the cluster serves. */
  apiVersions: string[] | undefined;
}

/** Parses `[--out DIR] [--api-versions a,b]`; throws `Error` with a usage message. */
export function parseTypesArgs(args: readonly string[]): TypesArgs {
  const out: TypesArgs = { out: ".", apiVersions: undefined };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined || v.startsWith("--")) throw new TypesUsageError(`${a} needs a value`);
      return v;
    };
    if (a === "--out") out.out = value();
    else if (a === "--api-versions") out.apiVersions = value().split(",").map((s) => s.trim()).filter((s) => s !== "");
    else throw new TypesUsageError(`unknown argument ${a} for types`);
  }
  return out;
}

/** A usage error of `chakrator types` (cli.ts turns it into exit code 2). */
export class TypesUsageError extends Error {
  override name = "TypesUsageError";
}

/** The tsconfig.json the operator's own check corresponds to (compile.ts CHECK_OPTIONS). */
export function tsconfigFor(): object {
  return {
    "//": "Written by `chakrator types`: the reconciler sandbox's check options. Re-run it after a CRD changes.",
    compilerOptions: {
      target: "es2024",
      lib: ["es2024"],
      module: "esnext",
      moduleResolution: "bundler",
      moduleDetection: "force",
      types: [],
      strict: true,
      noFallthroughCasesInSwitch: true,
      isolatedModules: true,
      allowImportingTsExtensions: true,
      noEmit: true,
      skipLibCheck: true,
      paths: { chakrator: ["./.chakrator/chakrator.d.ts"], "chakrator/*": ["./.chakrator/kinds/*.d.ts"] },
    },
    include: ["*.ts", ".chakrator/kinds-in-use.d.ts"],
    exclude: ["*.test.ts"],
  };
}

/** Runs `chakrator types`; returns the exit code. */
export async function runTypes(args: TypesArgs, io: { out(t: string): void; err(t: string): void }): Promise<number> {
  const dir = args.out;
  const typings = join(dir, ".chakrator");
  rmSync(join(typings, "kinds"), { recursive: true, force: true }); // no module of a group-version gone since
  mkdirSync(join(typings, "kinds"), { recursive: true });
  writeFileSync(join(typings, "chakrator.d.ts"), readFileSync(CONTRACT, "utf8"));
  writeFileSync(join(dir, "tsconfig.json"), `${JSON.stringify(tsconfigFor(), null, 2)}\n`);

  let modules: KindModule[] = [];
  const cluster = await readerForCurrentContext();
  if (cluster === undefined) {
    io.err("chakrator types: no kube context: wrote the contract only (children stay untyped)\n");
  } else {
    try {
      const kinds = new KindTypings(cluster.reader);
      modules = args.apiVersions === undefined ? await kinds.all() : (await kinds.modules(args.apiVersions)).modules;
      if (modules.length === 0) io.err(`chakrator types: ${cluster.server} gave no OpenAPI v3 schemas: wrote the contract only\n`);
    } finally {
      cluster.close();
    }
  }
  for (const m of modules) {
    const file = join(typings, "kinds", `${m.apiVersion}.d.ts`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, m.text);
  }
  const entry = join(dir, "reconciler.ts");
  const catalog = new Map(modules.map((m) => [m.apiVersion, new Set(m.kinds)]));
  const inUse = existsSync(entry)
    ? kindsInUseText(declaredKinds(ts.createSourceFile(entry, readFileSync(entry, "utf8"), ts.ScriptTarget.ES2024)), catalog)
    : "export {};\n";
  writeFileSync(join(typings, "kinds-in-use.d.ts"), `// Written by \`chakrator types\` from ${existsSync(entry) ? "reconciler.ts" : "no reconciler.ts"}: its for/owns kinds.\n${inUse}`);
  const where = relative(process.cwd(), dir) || ".";
  io.out(`wrote ${where}/tsconfig.json and ${where}/.chakrator/ (contract, ${modules.length} group-version${modules.length === 1 ? "" : "s"}${modules.length > 0 ? `: ${modules.map((m) => m.apiVersion).slice(0, 6).join(", ")}${modules.length > 6 ? ", …" : ""}` : ""})\n`);
  return 0;
}
