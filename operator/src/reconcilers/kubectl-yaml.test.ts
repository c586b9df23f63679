/**
 * kubectlYamlHazard against kubectl itself: each text is stored in a real ConfigMap
 * and printed with `kubectl get -o yaml`; the hazard check must say "quoted" exactly
 * when kubectl prints the value as a quoted string rather than a `|` block. And the
 * operator's Normal Event for such a source, through the source manager on the real
 * API server, and rollback writing an old revision back without trailing spaces.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { eventually, kubeConfig, sampleSource, testCluster, testNamespace, type ControlPlaneInfo } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { kubectlYamlAdvice, kubectlYamlHazard, stripTrailingWhitespace } from "./compile-input.ts";
import { rollback } from "./revisions.ts";

const CASES: Record<string, string> = {
  plain: "const a = 1;\nconst b = 2;\n",
  "trailing space": "const a = 1; \nconst b = 2;\n",
  "space at end": "const a = 1;\nconst b = 2; ",
  "trailing tab": "const a = 1;\t\n",
  "tab indent": "function f() {\n\treturn 1;\n}\n",
  crlf: "const a = 1;\r\nconst b = 2;\r\n",
  "leading space line": "  const a = 1;\n",
  bom: "\uFEFFconst a = 1;\n",
  nbsp: "const a = '\u00a0';\n",
  accents: "// é ü ñ — ✓\nconst a = 1;\n",
  emoji: "// 🚀\nconst a = 1;\n",
  "control char": "const a = '\u0007';\n",
  "c1 control": "const a = '\u0090';\n",
  "c1 control 80": "const a = '\u0080';\n",
  "c1 control 9f": "const a = '\u009f';\n",
  "delete": "const a = '\u007f';\n",
  "non-character": "const a = '\uffff';\n",
  "next line (a YAML break)": "const a = '\u0085';\n",
  "blank lines": "\n\nconst a = 1;\n\n\n",
};

describe("kubectl's YAML of reconciler sources", () => {
  let info: ControlPlaneInfo;
  let client: KubeClient;
  let ns: string;
  before(async () => {
    info = await testCluster();
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    ns = await testNamespace(info, "yaml");
  });
  after(() => client.close());

  it("kubectlYamlHazard says quoted exactly when kubectl get -o yaml prints no | block", async () => {
    const rows: string[] = [];
    for (const [i, [name, text]] of Object.entries(CASES).entries()) {
      await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `case-${i}`, namespace: ns }, data: { "k.ts": text } });
      const out = spawnSync("kubectl", ["--kubeconfig", info.kubeconfig, "-n", ns, "get", "configmap", `case-${i}`, "-o", "yaml"], { encoding: "utf8" });
      const line = out.stdout.split("\n").find((l) => l.startsWith("  k.ts: "));
      const kubectl = out.status !== 0 ? `fails (${out.stderr.trim()})` : line === undefined ? "no line" : /: \|[-+0-9]*$/.test(line) ? "block" : "quoted";
      const hazard = kubectlYamlHazard(text);
      const check = hazard === undefined ? "block" : hazard.fails ? "fails" : "quoted";
      rows.push(`${kubectl.split(" ")[0] === check ? "" : "MISMATCH "}${name}: kubectl ${kubectl}, check ${check}${hazard ? ` (${hazard.what})` : ""}`);
    }
    assert.deepEqual(rows.filter((r) => r.startsWith("MISMATCH")), [], rows.join("\n"));
    // The cases cover every answer, and stripping fixes the trailing-space ones.
    for (const answer of ["kubectl block", "kubectl quoted", "kubectl fails"]) assert.ok(rows.some((r) => r.includes(answer)), `${answer}:\n${rows.join("\n")}`);
    assert.equal(kubectlYamlHazard(stripTrailingWhitespace(CASES["trailing space"]!)), undefined);
    assert.equal(kubectlYamlHazard(stripTrailingWhitespace(CASES["space at end"]!)), undefined);
  });

  it("names the key, the line and the reason, and only for .ts keys", () => {
    assert.equal(kubectlYamlAdvice({ "reconciler.ts": "a\nb\n", "README.md": "x \n" }), undefined);
    const advice = kubectlYamlAdvice({ "reconciler.ts": "a\nb  \nc\n", "lib.ts": "ok\n" });
    assert.match(advice ?? "", /^reconciler\.ts line 2 has a line ending in spaces: kubectl get -o yaml and kubectl edit will show that key as one double-quoted line/);
  });

  it("the operator records a Normal Event for a source that arrives with trailing spaces, and still accepts it", async () => {
    const { runOperator } = await import("../lifecycle.ts");
    const { LogBus } = await import("../telemetry/log.ts");
    const seed = sampleSource("01-message");
    const data = { ...seed, "reconciler.ts": seed["reconciler.ts"]!.replace("\n", "   \n") };
    await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "spacey", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data });
    const run = await runOperator({ kubeConfig: kubeConfig(info), log: new LogBus({ stdout: false }), namespace: ns, listen: { host: "127.0.0.1", port: 0 }, auth: "off", handleSignals: false, workers: 1, sandbox: { poolSize: 1 } });
    try {
      await eventually(() => run.operator.sources.state(`${ns}/spacey`)?.active?.number === 1, 30_000, "the spacey source accepted");
      const event = await eventually(async () => {
        const list = await client.request<{ items: Array<KubeObject & { type?: string; reason?: string; message?: string; involvedObject?: { name?: string } }> }>("GET", `/api/v1/namespaces/${ns}/events`);
        return list.items.find((e) => e.reason === "SourceNotBlockYAML" && e.involvedObject?.name === "spacey");
      }, 15_000, "the SourceNotBlockYAML Event");
      assert.equal(event.type, "Normal");
      assert.match(event.message ?? "", /reconciler\.ts line 1 has a line ending in spaces.*kubectl edit/);

      // Rollback to that revision writes its source back without the trailing spaces.
      const cm = await client.get<KubeObject & { data?: Record<string, string> }>("v1", "ConfigMap", "spacey", ns);
      await client.replace({ ...cm!, data: { ...cm!.data, "reconciler.ts": seed["reconciler.ts"]! } });
      await eventually(() => run.operator.sources.state(`${ns}/spacey`)?.active?.number === 2, 30_000, "revision 2");
      const rolled = await rollback(client, ns, "spacey", 1);
      assert.equal(rolled.data?.["reconciler.ts"], stripTrailingWhitespace(data["reconciler.ts"]!));
      assert.notEqual(rolled.data?.["reconciler.ts"], data["reconciler.ts"]);
      const yaml = spawnSync("kubectl", ["--kubeconfig", info.kubeconfig, "-n", ns, "get", "configmap", "spacey", "-o", "yaml"], { encoding: "utf8" });
      assert.match(yaml.stdout, /^ {2}reconciler\.ts: \|-?$/m);
    } finally {
      await run.shutdown();
    }
  });
});
