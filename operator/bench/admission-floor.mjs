// The floor of admission: the bench's validate and mutate written straight into a bare
// node:http2 server, no sandbox, no IPC, nothing else. admission.bench.ts runs it as its
// own process beside the operator, so the cost any webhook adds on this machine (the API
// server's webhook client, TLS, JSON) is measured in the same run as Chakrator's.
// Env: FLOOR_CERT, FLOOR_KEY (PEM); prints its port on stdout.
import { createSecureServer } from "node:http2";

const server = createSecureServer({ cert: process.env.FLOOR_CERT, key: process.env.FLOOR_KEY, allowHTTP1: true }, (req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const review = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    const object = review.request.object;
    const response = { uid: review.request.uid, allowed: true };
    if (req.url.startsWith("/validate")) {
      if (!(object.spec.replicas <= 10)) Object.assign(response, { allowed: false, status: { code: 403, reason: "Forbidden", message: "spec.replicas must be <= 10" } });
    } else if (object.spec.tier === undefined) {
      Object.assign(response, { patchType: "JSONPatch", patch: Buffer.from(JSON.stringify([{ op: "add", path: "/spec/tier", value: "standard" }])).toString("base64") });
    }
    const text = JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.on("disconnect", () => process.exit(0));
process.stdin.on("end", () => process.exit(0)).resume();
